#!/usr/bin/env python3
"""Assembles the tokenizer test corpus: tests/data/tokenizer/corpus.jsonl.

One JSON object per line, {"hex": "<the text's bytes as hex>"}, so that texts which are not valid UTF-8 fit.
Deterministic (fixed seeds, no dict/set iteration order dependence): running it twice gives the same file.

Families of texts, each tagged in the "kind" field so that a failing line can be understood at a glance:
  prose      lines and paragraphs of ../shared/data/corpus/tinyshakespeare.txt
  lang       sentences written for this corpus in many scripts (Chinese, Japanese, Korean, Arabic, Hebrew,
             Russian, Greek, Hindi, Thai, Vietnamese, German, French, ...), also in decomposed (NFD) form
  code       Python, C++, JSON, HTML, shell, SQL snippets
  emoji      emoji with skin tones, ZWJ sequences, flags, keycaps
  space      runs of spaces, tabs, newlines, \\r\\n and mixtures, 1..300 long, alone and between words
  digits     digit runs of every length 1..30, alone, in words, with separators
  punct      mixed punctuation
  special    special-token strings of every tokenizer we ship, alone, adjacent, in chat-formatted text
  edge       single characters, control characters, zero-width characters, casing edge cases, long words
  invalid    byte strings that are not valid UTF-8 (about 5% of the corpus)
  mix        seeded random concatenations of the above

Usage: make_corpus.py [--out PATH] [--shakespeare PATH]
"""
import argparse
import json
import os
import random
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LANG_SENTENCES = {
    "zh": [
        "今天天气很好，我们去公园散步吧。",
        "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。",
        "他说：“我明天早上八点到北京。”",
        "这个问题的答案并不简单，需要仔细思考。",
        "長城是中國古代的偉大工程之一。",
        "请把窗户打开，房间里太热了！",
        "我爱吃饺子、包子和面条。",
        "大语言模型的推理速度取决于内存带宽。",
        "𠀀𠀁𠀂是扩展B区的汉字。",
        "一二三四五六七八九十百千万亿",
    ],
    "ja": [
        "今日はとても良い天気ですね。",
        "東京駅から新幹線で大阪まで行きます。",
        "私はコーヒーよりお茶が好きです。",
        "カタカナとひらがなと漢字を混ぜて書きます。",
        "ｱｲｳｴｵ は半角カタカナです。",
        "このプログラムはトークナイザーをテストします。",
        "「こんにちは」と彼女は言った。",
        "ガギグゲゴ パピプペポ",
    ],
    "ko": [
        "안녕하세요, 만나서 반갑습니다.",
        "오늘 저녁에 무엇을 먹을까요?",
        "한국어는 한글로 씁니다.",
        "서울은 대한민국의 수도입니다.",
        "인공지능 모델이 문장을 토큰으로 나눕니다.",
    ],
    "ar": [
        "مرحبا بكم في عالم الذكاء الاصطناعي.",
        "اللغة العربية تكتب من اليمين إلى اليسار.",
        "كيف حالك اليوم؟",
        "قَالَ الْمُعَلِّمُ: اِقْرَأْ الدَّرْسَ.",
        "الأرقام: ٠١٢٣٤٥٦٧٨٩",
    ],
    "he": [
        "שלום עולם, מה שלומך?",
        "העברית נכתבת מימין לשמאל.",
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים",
        "אני לומד תכנות בפייתון.",
    ],
    "ru": [
        "Привет, как дела? Всё хорошо.",
        "Москва — столица России.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "ЁЛКА и ёлка пишутся через букву Ё.",
        "Нейронная сеть обучается на больших данных.",
    ],
    "uk": ["Чому ж ти, їжачку, ґанок обійшов?", "Київ — столиця України."],
    "el": [
        "Γειά σου κόσμε! Τι κάνεις;",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "ΟΔΥΣΣΕΥΣ και Ὀδυσσεύς, σοφός.",
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    ],
    "hi": [
        "नमस्ते, आप कैसे हैं?",
        "भारत एक विशाल देश है।",
        "मुझे हिंदी पढ़ना पसंद है।",
        "कृत्रिम बुद्धिमत्ता का भविष्य उज्ज्वल है।",
    ],
    "bn": ["আমি বাংলায় গান গাই।"],
    "ta": ["தமிழ் ஒரு செம்மொழி ஆகும்."],
    "th": [
        "สวัสดีครับ ยินดีที่ได้รู้จัก",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    ],
    "vi": [
        "Tiếng Việt có nhiều dấu thanh điệu.",
        "Xin chào, bạn có khỏe không?",
        "Hà Nội là thủ đô của Việt Nam.",
        "Người ta nói rằng học, học nữa, học mãi.",
    ],
    "de": [
        "Größere Übungen für Ärzte und Bäcker.",
        "Der Fußgänger überquert die Straße.",
        "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
        "STRASSE und Straße, ẞ ist das große Eszett.",
    ],
    "fr": [
        "Où est la bibliothèque ? À côté du café.",
        "Le cœur a ses raisons que la raison ne connaît point.",
        "Ça va très bien, merci ! L'été dernier, j'ai visité Noël.",
        "Portez ce vieux whisky au juge blond qui fume.",
    ],
    "es": ["¿Dónde está el baño? ¡Aquí!", "El niño comió piñata en año nuevo."],
    "pt": ["A ação foi concluída com sucesso, não é?", "São Paulo é uma cidade enorme."],
    "pl": ["Zażółć gęślą jaźń.", "Pchnąć w tę łódź jeża lub ośm skrzyń fig."],
    "tr": ["İstanbul'da ılık bir gün. IĞDIR ve ığdır.", "Pijamalı hasta yağız şoföre çabucak güvendi."],
    "fa": ["سلام، حال شما چطور است؟"],
    "ka": ["გამარჯობა, როგორ ხარ?"],
    "am": ["ሰላም እንዴት ነህ?"],
    "hy": ["Բարեւ, ինչպես ես:"],
    "sv": ["Flygande bäckasiner söka hwila på mjuka tuvor."],
    "is": ["Þú ert að læra íslensku."],
    "cs": ["Příliš žluťoučký kůň úpěl ďábelské ódy."],
}

CODE_SNIPPETS = [
    '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


if __name__ == "__main__":
    print([fibonacci(i) for i in range(10)])
''',
    '''class Tokenizer:
    def __init__(self, vocab):
        self.vocab = {tok: i for i, tok in enumerate(vocab)}

    def encode(self, text):
\treturn [self.vocab.get(ch, 0) for ch in text]  # mixed tabs
''',
    '''import numpy as np
x = np.arange(12).reshape(3, 4)
print(x @ x.T, x.sum(axis=-1), f"{x.mean():.3f}")
lambda_ = lambda a, *args, **kw: (a, args, kw)
''',
    '''#include <iostream>
#include <vector>

template <typename T>
T sum(const std::vector<T>& v) {
  T total{};
  for (const auto& x : v) total += x;
  return total;
}

int main() {
  std::vector<int> v = {1, 2, 3};
  std::cout << sum(v) << std::endl;  // prints 6
  return 0;
}
''',
    '''struct Node { int key; Node* next = nullptr; };
auto it = std::find_if(begin(xs), end(xs), [&](const auto& x) { return x->key == 42; });
if (a <= b && c != d || !e) { x <<= 2; y >>= 3; z ^= ~w; }
''',
    '''{
  "name": "open-autoglm",
  "version": "0.1.0",
  "tokens": [1, 2, 3, -4.5e10, true, false, null],
  "nested": {"a": {"b": {"c": "\\u00e9\\n"}}}
}
''',
    '''<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Test &amp; page</title></head>
<body>
  <div class="main" id='x'>Hello, <b>world</b>! &lt;tag&gt; &nbsp;</div>
  <script>document.getElementById("x").innerText = `${1 + 2}`;</script>
</body>
</html>
''',
    '''#!/usr/bin/env bash
set -euo pipefail
for f in *.txt; do echo "$f" | sed -e 's/\\.txt$//' >> out.log 2>&1; done
cat <<EOF > /tmp/x && chmod +x /tmp/x
EOF
''',
    '''SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id
WHERE o.created_at >= '2024-01-01' GROUP BY u.id HAVING n > 10 ORDER BY n DESC;
''',
    '''fn main() {
    let v: Vec<u32> = (0..10).map(|x| x * x).collect();
    println!("{:?}", v);
}
''',
    "    if x:\n        return y\n    else:\n\t\treturn z\n",
    "x=1;y=2;z=x+y*3/4-5%6**7//8",
    "a_b_c __init__ __main__ snake_case camelCase PascalCase SCREAMING_CASE kebab-case",
    "https://example.com/path/to/page?query=1&other=two#fragment and mailto:someone@example.org",
    "C:\\Users\\name\\Documents\\file.txt /usr/local/bin/python3 ~/.config/app.json",
]

EMOJI = [
    "😀", "😀😃😄😁", "👍🏽", "👋🏿 hello", "👨‍👩‍👧‍👦", "👩‍💻 coding", "🏳️‍🌈", "🏴‍☠️", "❤️", "❤️‍🔥",
    "🇫🇷🇩🇪🇯🇵🇺🇸", "🇨🇳 China", "1️⃣ 2️⃣ #️⃣", "🧑🏻‍🤝‍🧑🏿", "I ❤ NY", "✨🎉🎊🥳", "🙂‍↔️", "🫠🫡🫶",
    "emoji at the end 🚀", "🤖: beep boop", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland", "©️®️™️", "☕️ time",
]

PUNCT = [
    "Hello, world!", "Wait... what?!", "«Bonjour» — dit-il.", "“Smart quotes” and ‘single ones’",
    "a---b--c-d", "(nested [brackets {here}])", "!!!???...,,,;;;:::", "@#$%^&*()_+-=[]{}|\\;:'\",.<>/?`~",
    "It's I'm you're we've they'll he'd can't won't", "IT'S I'M YOU'RE WE'VE THEY'LL HE'D",
    "\u2018s \u2019s 's 'S", "100% of 50$ is 50€ or ¥5000 or £40", "• bullet · middle dot … ellipsis",
    "a/b\\c|d", "===>>> <<<===", "¿¡", "。、！？「」『』（）", "،؛؟", "।॥", "…‥", "\u00a7 \u00b6 \u2020 \u2021",
    "x'y 'quoted' ''double'' '''triple'''", "'s'S'T't'LL'll'RE're'VE've'M'm'D'd",
]

SPECIAL_TOKENS = [
    "<s>", "</s>", "<unk>", "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "[CLS]", "[SEP]", "[MASK]",
    "[PAD]", "[UNK]", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_5|>", "<|reserved_special_token_250|>", "[gMASK]", "[MASK]", "[sMASK]", "<!sop!>",
    "<!eop!>", "sop", "eop", "<|user|>", "<|assistant|>", "<|system|>", "<|observation|>", "<|end|>",
    "<|placeholder1|>", "<|placeholder6|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|endofprompt|>", "<!dummy-prefix!>",
]


def shakespeare_texts(path, rng):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = [l for l in text.split("\n") if l.strip()]
    out = []
    # Lines spread evenly over the play.
    step = max(1, len(lines) // 500)
    for i in range(0, len(lines), step):
        out.append(lines[i])
    # Paragraphs (speeches) with their internal newlines, some with the trailing newline kept.
    paragraphs = text.split("\n\n")
    step = max(1, len(paragraphs) // 140)
    for k, i in enumerate(range(0, len(paragraphs), step)):
        p = paragraphs[i]
        out.append(p + ("\n" if k % 3 == 0 else ""))
    # A few long excerpts (several KB) to exercise long inputs.
    for start in (1000, 400000, 800000):
        out.append(text[start:start + 3000])
    return out


def lang_texts():
    out = []
    langs = sorted(LANG_SENTENCES)
    for lang in langs:
        sents = LANG_SENTENCES[lang]
        out.extend(sents)
        out.append(" ".join(sents))
        out.append("\n".join(sents) + "\n")
        for s in sents:
            nfd = unicodedata.normalize("NFD", s)
            if nfd != s:
                out.append(nfd)
            nfkd = unicodedata.normalize("NFKD", s)
            if nfkd != s and nfkd != nfd:
                out.append(nfkd)
    # Mixed-script sentences.
    out.append("English, 中文, 日本語, 한국어, العربية, עברית, Русский, Ελληνικά, हिन्दी, ไทย, Tiếng Việt.")
    out.append("The word 'naïve' (NFD: '" + unicodedata.normalize("NFD", "naïve") + "') and café/cafe\u0301.")
    out.append("Ａｌｐｈａ ＢＥＴＡ ０１２３ full-width forms and ﬁ ﬂ ligatures, ① ② ③, ㎞ ㍻ ½ ¼ x² H₂O")
    out.append("Hangul jamo: \u1100\u1161\u11a8 vs 각; Å vs A\u030a vs \u212b (angstrom sign)")
    out.append("e\u0301\u0301\u0301 stacked marks, a\u0323\u0302 order of marks, \u0301 leading mark")
    return out


def emoji_texts():
    out = list(EMOJI)
    out.append(" ".join(EMOJI))
    out.append("".join(EMOJI))
    return out


def space_texts():
    out = []
    kinds = [(" ", "sp"), ("\t", "tab"), ("\n", "nl"), ("\r\n", "crlf"), (" \n", "spnl"), ("\n ", "nlsp"),
             ("\u3000", "ideo"), ("\u00a0", "nbsp"), (" \t", "sptab")]
    lengths = list(range(1, 21)) + [25, 31, 32, 33, 50, 63, 64, 65, 100, 127, 128, 129, 200, 255, 256, 300]
    for ws, _ in kinds:
        for n in lengths:
            run = ws * n
            if len(run) > 300:
                run = run[:300]
            out.append(run)
            if n in (1, 2, 3, 4, 5, 8, 16, 17, 64, 300):
                out.append("word" + run + "next")
                out.append(run + "lead")
                out.append("trail" + run)
    out.append("   leading and trailing   ")
    out.append("line one\nline two\r\nline three\rline four\n\n\nline five\n")
    out.append("\n\n\n")
    out.append(" \t \n \r\n \u000b \u000c \u0085 \u2028 \u2029 ")
    return out


def digit_texts():
    out = []
    digits = "31415926535897932384626433832795028841971"
    for n in range(1, 31):
        run = digits[:n]
        out.append(run)
        out.append("x" + run + "y")
        out.append("Price: " + run + " dollars")
    out.append("1,234,567.89 and 1.234.567,89 and 1 234 567")
    out.append("3.14159 2.71828 6.022e23 -1e-9 0x1F 0b1010 0o777")
    out.append("Call 555-0123 on 2024-05-17 at 13:45:00.")
    out.append("٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ ０１２３４５６７８９ ①②③ Ⅻ ½")
    out.append("v1.2.3-rc.4+build.5")
    return out


def special_texts():
    out = []
    for tok in SPECIAL_TOKENS:
        out.append(tok)
        out.append(" " + tok + " ")
        out.append("Hello" + tok + "world")
        out.append("Hello " + tok + " world")
    out.append("".join(SPECIAL_TOKENS[:12]))
    out.append(" ".join(SPECIAL_TOKENS))
    out.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
               "<|im_start|>assistant\n")
    out.append("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n")
    out.append("[gMASK]sop<|user|>\n 你好<|assistant|>\n 你好！<|observation|>")
    out.append("<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n")
    out.append("<s>[INST] Hello [/INST] Hi</s><s>[INST] Again [/INST]")
    out.append("[CLS] the first sentence [SEP] the second one [SEP]")
    out.append("<s <|im_start <|endoftext| im_start|> [CLS [gMASK ]SEP] </ s> < s >")
    out.append("<<s>> <</s>> <|<|im_end|>|> [[CLS]] <s></s><s></s>")
    out.append("<|endoftext|><|endoftext|><|endoftext|>")
    out.append("</s>   \n  trailing spaces after eos")
    out.append("<|assistant|>   spaces after assistant<|end|>  \n  x")
    out.append("   <s>   spaces around bos   </s>   ")
    out.append("<unk><UNK>[unk][UNK]")
    return out


def edge_texts():
    out = ["", " ", "a", "A", "\u00e9", "e\u0301", "\u200b", "\u200d", "\u200c", "\ufeffBOM at start", "\ufffd",
           "\x00", "\x00\x01\x02\x1f\x7f", "tab\there", "bell\x07char", "\u0000null inside",
           "\u00ad soft hyphen", "\u2060word joiner", "\u202eRTL override\u202c", "\ue000 private use \uf8ff",
           "\U000f0000 plane 15", "\U0010fffd", "\U0001d400\U0001d401 math bold", "ǅ ǈ ǋ titlecase digraphs",
           "İstanbul İ i̇ I ı", "ß SS ẞ", "ΣΑΣ σας ς", "ﬀ ﬃ ﬄ", "Ⅷ ⅷ", "Kelvin \u212a and ohm \u2126",
           "ǰ ΐ ᾳ ῼ", "Ⓐⓑ", "\u0345 ypogegrammeni", "\u1e9e", "\u0130\u0131",
           "a" * 50, "a" * 99, "a" * 100, "a" * 101, "a" * 250, "x" * 2000,
           "supercalifragilisticexpialidocious " * 3,
           "Pneumonoultramicroscopicsilicovolcanoconiosis",
           "ab" * 150, "的" * 120, "🙂" * 40, "\u0301" * 20, "é" * 120,
           "unaffable unbelievable ununderstandable", "HELLO World hello WORLD hElLo",
           "don't DON'T Don't", "e.g. i.e. etc. Mr. Mrs. Dr.", "AT&T U.S.A. Ph.D.",
           "tokenization tokenizer tokenized retokenize", "ａｂｃ ＡＢＣ",
           "\u3400\u4dbf\U00020000\U0002a6df\U0002a700\U0002b740\U0002b820\U0002ceaf\uf900\ufaff\U0002f800",
           "\u2e80 \u2f00 \u3005 \u3007 \u30fc", "\U0001f600\ufe0f\ufe0e", "\u0e01\u0e34\u0e4a",
           "ab\u0300c\u0327d", "\u1100\u1100\u1161", "\u0928\u094d\u200d", "a\u00a0b\u00a0\u00a0c",
           "x\u2009y\u202fz\u2007w", "\u2028\u2029", "\u00a0" * 5 + "nbsp",
           ]
    return out


def invalid_texts():
    """Byte strings that are not valid UTF-8; Python's decode('utf-8', 'replace') defines the reference."""
    out = []
    base = [b"\x80", b"\xbf", b"\x80\x80\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
            b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xff", b"\xfe", b"\xff\xfe",
            b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xc3", b"\xe4\xb8", b"\xf0\x9f\x98",
            b"\xe4", b"\xf0", b"\xf0\x9f", b"\xc3\xc3", b"\xe4\xb8\xe4\xb8", b"\xc3(", b"\xe2\x28\xa1",
            b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc", b"\xf0\x28\x8c\x28", b"\xa0\xa1",
            b"\xc0\x80", b"\xe0\x9f\xbf", b"\xfc\x80\x80\x80\x80\x80"]
    for b in base:
        out.append(b)
        out.append(b"abc" + b + b"def")
        out.append(b + b" hello")
        out.append("中文".encode() + b + "한국".encode())
    out.append(b"\xef\xbb\xbf\xff valid BOM then 0xFF")
    out.append(b"Hello \xe4\xb8\xad\xe6\x96 truncated chinese")
    out.append(b"<s>\xff</s>\x80<|endoftext|>\xc3")
    out.append(b"\xf0\x9f\x98\x80\xf0\x9f\x98 emoji and a truncated one")
    out.append(b"line\r\n\xff\xfe\r\n\x80 line")
    out.append(bytes(range(0x80, 0x100)))
    out.append(bytes(range(0, 0x100)))
    rng = random.Random(1234)
    for _ in range(20):
        n = rng.randint(1, 40)
        out.append(bytes(rng.randint(0, 255) for _ in range(n)))
    return out


def mix_texts(pools, rng, count):
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(2, 5)):
            pool = pools[rng.randrange(len(pools))]
            s = pool[rng.randrange(len(pool))]
            if isinstance(s, str):
                s = s.encode("utf-8")
            if len(s) > 400:
                start = rng.randrange(len(s) - 400)
                s = s[start:start + 400]
            parts.append(s)
        sep = [b"", b" ", b"\n", b"  ", b"\t"][rng.randrange(5)]
        out.append(sep.join(parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/tokenizer/corpus.jsonl"))
    ap.add_argument("--shakespeare", default=os.path.join(ROOT, "../shared/data/corpus/tinyshakespeare.txt"))
    args = ap.parse_args()
    rng = random.Random(20240517)

    families = [
        ("prose", shakespeare_texts(args.shakespeare, rng)),
        ("lang", lang_texts()),
        ("code", CODE_SNIPPETS + [l for s in CODE_SNIPPETS for l in s.split("\n") if l.strip()]),
        ("emoji", emoji_texts()),
        ("space", space_texts()),
        ("digits", digit_texts()),
        ("punct", PUNCT),
        ("special", special_texts()),
        ("edge", edge_texts()),
        ("invalid", invalid_texts()),
    ]
    # Invalid UTF-8 stays in its own family so that it makes up about 5% of the corpus.
    pools = [texts for name, texts in families if name not in ("prose", "invalid")] + [families[0][1][:500]]
    families.append(("mix", mix_texts(pools, rng, 700)))

    seen = set()
    rows = []
    for name, texts in families:
        for t in texts:
            b = t.encode("utf-8") if isinstance(t, str) else t
            if (name, b) in seen:
                continue
            seen.add((name, b))
            rows.append({"kind": name, "hex": b.hex()})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="ascii") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    n_invalid = 0
    for r in rows:
        try:
            bytes.fromhex(r["hex"]).decode("utf-8")
        except UnicodeDecodeError:
            n_invalid += 1
    size = os.path.getsize(args.out)
    print(f"{args.out}: {len(rows)} texts, {n_invalid} invalid UTF-8 ({100.0 * n_invalid / len(rows):.1f}%), "
          f"{size} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Test data of the native tokenizer tests: vocab-only GGUF files, llama.cpp's ids on the tokenizer corpus, and
small SentencePiece models with their reference ids.

llama.cpp's ggml-vocab-*.gguf files in ../shared/data/tokenizers/llama-cpp-vocab are damaged (a text conversion
replaced every byte >= 0x80 by EF BF BD), but their .inp/.out vectors are intact. The vocabularies are rebuilt
from the intact sources of the same tokenizers, with the tokenizer.ggml.* keys llama.cpp's convert_hf_to_gguf.py
writes (gguf-py's GGUFWriter):

  llama-spm  llama2/tokenizer.model (sentencepiece): pieces, scores, types (UNKNOWN/CONTROL/BYTE/NORMAL, as
             in the original ggml-vocab-llama-spm.gguf, whose token_type array survived the damage), model
             "llama", pre "default", bos 1 / eos 2 / unk 0, add_bos true, add_eos false.
  phi-3      phi3/tokenizer.json + tokenizer_config.json (Phi3MiniModel.set_vocab): tokens padded to Phi-3-mini's
             vocab_size 32064 with [PAD{i}] (UNUSED), added tokens CONTROL when special else USER_DEFINED with
             score -1000, general.name "Phi3" (llama.cpp keys its rstrip rule on it). tokenizer.json has no scores,
             only merges; SentencePiece BPE merges are ordered by the score of the merged piece, so a piece's score
             is minus the rank of the first merge producing it (pieces no merge produces score below all of those).
  bert-bge   minilm/tokenizer.json (the same uncased BERT vocabulary as bge-small-en-v1.5; it reproduces the
             bert-bge vectors): model "bert", phantom-space pieces as BertModel.set_vocab writes them.
  gpt-2      gpt2/vocab.json + merges.txt: model "gpt2", pre "gpt-2", <|endoftext|> CONTROL and bos/eos/unk.
  qwen2      qwen2/vocab.json + merges.txt + the added tokens of tokenizer_config.json (CONTROL), pre "qwen2",
             eos/pad <|endoftext|>, no bos, add_bos false.
  llama-bpe  llama3/tokenizer.model (tiktoken ranks): tokens in GPT-2's byte-level alphabet plus the 256 special
             tokens of Meta's tokenizer.py (CONTROL), merges = every split of a token into two tokens, ordered by
             the rank of the token, then of the left and right parts (transformers' TikTokenConverter, which
             produced Meta-Llama-3's tokenizer.json that llama.cpp converts), pre "llama-bpe", bos 128000,
             eos 128001, add_bos true.

The files (7 MB in all) are not committed: the C++ tests build the same images in memory with the same rules
(tests/tokenizer/native/gguf_vocab_builder.cpp) and, where these files exist, check that both builders agree.

--llama-cpp: llama.cpp's llama_tokenize (add_special=false; parse_special true as "a", false as "n") on every
corpus text (invalid UTF-8 decoded with 'replace' first, as the C++ tokenizers do) for each vocabulary, compared
with the expectations of the tokenizer's own reference (tests/data/tokenizer/expected/: llama2_sentencepiece,
phi3, gpt2, minilm, qwen2, llama3). Only the differences are written, to
tests/data/tokenizer/gguf/llama_cpp/<vocab>.jsonl: {"i": corpus index, "a": ids, "n": ids}, "a"/"n" only where
they differ from the reference ("n" of the reference defaults to its "a"). Also stories260K.json: llama.cpp's
ids (add_special=true) of stories260K's expected_greedy_t0_n200.txt through stories260K.gguf. Needs the
llama-cpp-python bindings (`pip install llama-cpp-python`, or its source tree on PYTHONPATH with
LLAMA_CPP_LIB_PATH naming a built libllama); only the low-level module llama_cpp.llama_cpp is used.

--spm: SentencePiece test models (tests/data/tokenizer/gguf/spm/*.model), trained on the tokenizer corpus to
cover what llama2/tokenizer.model does not: Unigram, the precompiled nmt_nfkc charsmap (unigram_nfkc, the one
model carrying the ~240 KB NFKC table), a small custom rule table with multi-character rules, case folding and
deletions (CUSTOM_RULES), remove_extra_whitespaces on and off, user-defined and control symbols,
treat_whitespace_as_suffix, byte fallback, a CHAR model. Their reference ids (sentencepiece encode; decode on
every 5th line) go to <model>.expected.jsonl for a deterministic sample of the corpus (SPM_SAMPLE) plus
SPM_EXTRA_TEXTS, which carry their own text.

Usage: make_gguf_vocabs.py [--vocabs] [--llama-cpp] [--spm] [--shared DIR] [--out DIR]
       (no option: --vocabs, which writes the six ggml-vocab-*.gguf files to --out)
Needs: gguf, sentencepiece (pip), llama-cpp-python for --llama-cpp; nothing here runs in the tests.
"""
import argparse
import base64
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# gguf TokenType
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_ENCODER = bytes_to_unicode()


def byte_level(b: bytes) -> str:
    return "".join(BYTE_ENCODER[x] for x in b)


def llama3_special_tokens():
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
             "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
             "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(5, 256 - 5)]
    return names


def write_gguf(path, arch, name, model, pre, tokens, types, scores=None, merges=None, ids=None, flags=None):
    import gguf
    w = gguf.GGUFWriter(path, arch)
    w.add_name(name)
    w.add_tokenizer_model(model)
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if scores is not None:
        w.add_token_scores(scores)
    w.add_token_types(types)
    if merges is not None:
        w.add_token_merges(merges)
    for key, value in (ids or {}).items():
        getattr(w, f"add_{key}_token_id")(value)
    for key, value in (flags or {}).items():
        getattr(w, f"add_{key}")(value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tokens)} tokens, {len(merges or [])} merges")


def make_llama_spm(tok_dir, path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(tok_dir, "llama2/tokenizer.model"))
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        types.append(UNKNOWN if sp.is_unknown(i) else CONTROL if sp.is_control(i) else UNUSED if sp.is_unused(i)
                     else BYTE if sp.is_byte(i) else NORMAL)
    write_gguf(path, "llama", "llama-spm", "llama", "default", tokens, types, scores=scores,
               ids={"bos": 1, "eos": 2, "unk": 0}, flags={"add_bos_token": True, "add_eos_token": False})


def make_phi3(tok_dir, path):
    with open(os.path.join(tok_dir, "phi3/tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    with open(os.path.join(tok_dir, "phi3/tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    vocab = tj["model"]["vocab"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    n_vocab = 32064  # Phi-3-mini config.json vocab_size
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-10000.0] * n_vocab
    types = [UNUSED] * n_vocab
    first_merge = {}
    for rank, m in enumerate(merges):
        left, right = m.split(" ")
        first_merge.setdefault(left + right, rank)
    for piece, i in vocab.items():
        tokens[i] = piece
        if piece in first_merge:
            scores[i] = -float(first_merge[piece])
        else:
            scores[i] = -float(len(merges) + i)
        if piece == "<unk>":
            types[i] = UNKNOWN
        elif piece in ("<s>", "</s>"):
            types[i] = CONTROL
        elif piece.startswith("<0x") and len(piece) == 6 and piece.endswith(">"):
            types[i] = BYTE
            scores[i] = 0.0
        else:
            types[i] = NORMAL
    for token_id, data in config.get("added_tokens_decoder", {}).items():
        i = int(token_id)
        token = data["content"]
        looks_special = token.startswith("<|") and token.endswith("|>")
        if data.get("special") or looks_special:
            types[i] = CONTROL
        else:
            token = token.replace("\u2581", " ")
            types[i] = USER_DEFINED
        scores[i] = -1000.0
        tokens[i] = token
    write_gguf(path, "phi3", "Phi3", "llama", "default", tokens, types, scores=scores,
               ids={"bos": 1, "eos": 32000, "unk": 0, "pad": 32000},
               flags={"add_bos_token": True, "add_eos_token": False})


def make_bert_bge(tok_dir, path):
    # bge-small-en-v1.5 and all-MiniLM-L6-v2 share BERT's uncased vocabulary: minilm/tokenizer.json reproduces
    # every ggml-vocab-bert-bge vector. BertModel.set_vocab: added tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are
    # CONTROL and kept; other tokens become "phantom space" pieces ("##x" -> "x", "x" -> "\u2581x").
    with open(os.path.join(tok_dir, "minilm/tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    special = {t["id"] for t in tj["added_tokens"] if t.get("special")}
    tokens = [None] * len(vocab)
    types = [NORMAL] * len(vocab)
    for piece, i in vocab.items():
        if i in special:
            tokens[i] = piece
            types[i] = CONTROL
        elif piece.startswith("##"):
            tokens[i] = piece[2:]
        else:
            tokens[i] = "\u2581" + piece
    ids = {name: vocab[piece] for name, piece in (("bos", "[CLS]"), ("sep", "[SEP]"), ("unk", "[UNK]"),
                                                    ("pad", "[PAD]"), ("mask", "[MASK]"))}
    write_gguf(path, "bert", "bert-bge", "bert", "bert-bge", tokens, types, ids=ids,
               flags={"add_bos_token": True, "add_eos_token": False, "add_sep_token": True})


def read_merges_txt(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    return [line for line in lines if line]


def make_gpt2(tok_dir, path):
    with open(os.path.join(tok_dir, "gpt2/vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    types = [CONTROL if t == "<|endoftext|>" else NORMAL for t in tokens]
    merges = read_merges_txt(os.path.join(tok_dir, "gpt2/merges.txt"))
    write_gguf(path, "gpt2", "gpt-2", "gpt2", "gpt-2", tokens, types, merges=merges,
               ids={"bos": 50256, "eos": 50256, "unk": 50256})


def make_qwen2(tok_dir, path):
    with open(os.path.join(tok_dir, "qwen2/vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(tok_dir, "qwen2/tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    added = {int(k): v for k, v in config["added_tokens_decoder"].items()}
    n_vocab = max(max(vocab.values()), max(added)) + 1
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [UNUSED] * n_vocab
    for piece, i in vocab.items():
        tokens[i] = piece
        types[i] = NORMAL
    for i, data in added.items():
        tokens[i] = data["content"]
        types[i] = CONTROL if data.get("special") or data["content"].startswith("<|") else USER_DEFINED
    merges = read_merges_txt(os.path.join(tok_dir, "qwen2/merges.txt"))
    eos = tokens.index("<|endoftext|>")
    write_gguf(path, "qwen2", "qwen2", "gpt2", "qwen2", tokens, types, merges=merges, ids={"eos": eos, "pad": eos},
               flags={"add_bos_token": False})


def llama3_vocab(tok_dir):
    ranks = {}
    with open(os.path.join(tok_dir, "llama3/tokenizer.model"), "rb") as f:
        for line in f.read().splitlines():
            if line:
                b64, rank = line.split()
                ranks[base64.b64decode(b64)] = int(rank)
    by_rank = sorted(ranks, key=ranks.get)
    merges = []
    for token in by_rank:
        if len(token) == 1:
            continue
        local = [(token[:k], token[k:]) for k in range(1, len(token)) if token[:k] in ranks and token[k:] in ranks]
        local.sort(key=lambda p: (ranks[p[0]], ranks[p[1]]))
        merges.extend(local)
    tokens = [byte_level(t) for t in by_rank] + llama3_special_tokens()
    types = [NORMAL] * len(by_rank) + [CONTROL] * 256
    return tokens, types, [byte_level(a) + " " + byte_level(b) for a, b in merges]


def make_llama_bpe(tok_dir, path):
    tokens, types, merges = llama3_vocab(tok_dir)
    write_gguf(path, "llama", "llama-bpe", "gpt2", "llama-bpe", tokens, types, merges=merges,
               ids={"bos": 128000, "eos": 128001}, flags={"add_bos_token": True})


def corpus():
    """(kind, text) of every corpus line; text decoded as the C++ tokenizers see it."""
    out = []
    with open(os.path.join(ROOT, "tests/data/tokenizer/corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            out.append((c["kind"], bytes.fromhex(c["hex"]).decode("utf-8", "replace")))
    return out


VOCABS = {
    # name: (builder, reference expectations in tests/data/tokenizer/expected)
    "llama-spm": (make_llama_spm, "llama2_sentencepiece"),
    "phi-3": (make_phi3, "phi3"),
    "gpt-2": (make_gpt2, "gpt2"),
    "bert-bge": (make_bert_bge, "minilm"),
    "qwen2": (make_qwen2, "qwen2"),
    "llama-bpe": (make_llama_bpe, "llama3"),
}


def write_vocabs(tok_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, (make, _) in VOCABS.items():
        paths[name] = os.path.join(out_dir, f"ggml-vocab-{name}.gguf")
        make(tok_dir, paths[name])
    return paths


def llama_cpp_version():
    """llama-cpp-python's version (its vendored llama.cpp is the reference)."""
    import importlib.metadata
    import re
    try:
        return importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        pass
    package = sys.modules.get("llama_cpp")
    paths = list(getattr(package, "__path__", []))
    init = os.path.join(paths[0], "__init__.py") if paths else ""
    if os.path.exists(init):
        found = re.search(r'__version__ = "([^"]+)"', open(init, encoding="utf-8").read())
        if found:
            return found.group(1)
    return "unknown"


def import_llama_cpp():
    try:
        from llama_cpp import llama_cpp as lc
        return lc
    except ImportError:
        pass
    # The package's __init__ also imports the high-level API and its dependencies; the bindings alone suffice.
    import importlib.util
    import types
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("--llama-cpp needs the llama-cpp-python bindings (pip install llama-cpp-python)")
    package = types.ModuleType("llama_cpp")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["llama_cpp"] = package
    import llama_cpp.llama_cpp as lc
    return lc


class LlamaCppVocab:
    def __init__(self, lc, path):
        self.lc = lc
        params = lc.llama_model_default_params()
        params.vocab_only = True
        self.model = lc.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            sys.exit(f"llama.cpp cannot load {path}")
        self.vocab = lc.llama_model_get_vocab(self.model)

    def tokenize(self, text, add_special, parse_special):
        data = text.encode("utf-8")
        n_max = len(data) + 16
        while True:
            buf = (self.lc.llama_token * n_max)()
            n = self.lc.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            n_max = -n

    def close(self):
        self.lc.llama_model_free(self.model)


def read_expectations(name):
    with open(os.path.join(ROOT, "tests/data/tokenizer/expected", name + ".jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    return lines[0]["header"], lines[1:]


def write_llama_cpp_reference(tok_dir, shared, out_dir, vocab_paths):
    lc = import_llama_cpp()
    version = llama_cpp_version()
    lc.llama_backend_init()
    texts = corpus()
    os.makedirs(out_dir, exist_ok=True)
    # llama.cpp must reproduce its own vectors on the rebuilt vocabularies, or the rebuild is wrong.
    for name, (_, reference) in VOCABS.items():
        vocab = LlamaCppVocab(lc, vocab_paths[name])
        base = os.path.join(tok_dir, "llama-cpp-vocab", f"ggml-vocab-{name}.gguf")
        with open(base + ".inp", encoding="utf-8") as f:
            inputs = f.read().split("\n__ggml_vocab_test__\n")[:-1]
        with open(base + ".out", encoding="utf-8") as f:
            outputs = [[int(x) for x in line.split()] for line in f.read().split("\n")[:len(inputs)]]
        bad = sum(vocab.tokenize(t, False, False) != o for t, o in zip(inputs, outputs))
        if bad:
            sys.exit(f"{name}: llama.cpp differs from its own vectors on {bad} of {len(inputs)} texts")
        _, expected = read_expectations(reference)
        diffs = []
        for i, ((kind, text), e) in enumerate(zip(texts, expected)):
            a = vocab.tokenize(text, False, True)
            n = vocab.tokenize(text, False, False)
            line = {"i": i}
            if a != e["a"]:
                line["a"] = a
            if n != e.get("n", e["a"]):
                line["n"] = n
            if len(line) > 1:
                diffs.append(line)
        vocab.close()
        path = os.path.join(out_dir, name + ".jsonl")
        with open(path, "w", encoding="utf-8") as f:
            header = {"vocab": f"ggml-vocab-{name}.gguf (rebuilt)",
                      "reference": f"llama_tokenize of the llama.cpp vendored by llama-cpp-python {version}",
                      "compared_with": f"expected/{reference}.jsonl",
                      "fields": {"i": "corpus line", "a": "add_special=false, parse_special=true",
                                 "n": "add_special=false, parse_special=false"}}
            f.write(json.dumps({"header": header}) + "\n")
            for line in diffs:
                f.write(json.dumps(line) + "\n")
        print(f"{path}: {len(diffs)} of {len(texts)} texts differ from {reference}")
    stories = os.path.join(shared, "models/stories260K")
    vocab = LlamaCppVocab(lc, os.path.join(stories, "stories260K.gguf"))
    with open(os.path.join(stories, "expected_greedy_t0_n200.txt"), encoding="utf-8") as f:
        ids = vocab.tokenize(f.read(), True, True)
    vocab.close()
    with open(os.path.join(out_dir, "stories260K.json"), "w", encoding="utf-8") as f:
        json.dump({"text": "models/stories260K/expected_greedy_t0_n200.txt", "add_special": True,
                   "reference": f"llama_tokenize of the llama.cpp vendored by llama-cpp-python {version}", "ids": ids}, f)
        f.write("\n")
    print(f"stories260K: {len(ids)} ids")


# Normalization rules of the models without the NFKC table: (source code points, replacement code points).
CUSTOM_RULES = (
    [([0x41 + i], [0x61 + i]) for i in range(26)]            # ASCII case folding
    + [([0xFF01 + i], [0x21 + i]) for i in range(94)]        # fullwidth ASCII
    + [([0x2460 + i], [0x31 + i]) for i in range(9)]         # circled digits
    + [([0xFB01], [0x66, 0x69]), ([0xFB02], [0x66, 0x6C])]   # ligatures: one to many
    + [([0x2E, 0x2E, 0x2E], [0x2026]),                       # "..." -> "…": many to one, longest match
       ([0x61, 0x30A], [0xE5]), ([0x212B], [0xE5]),          # a + ring, angstrom sign -> å
       ([0x3000], [0x20]), ([0xA0], [0x20]), ([0x9], [0x20]), ([0xA], [0x20]), ([0xD], [0x20]),
       ([0x200B], [])]                                       # zero width space deleted
)

SPM_MODELS = {
    # name: trainer arguments
    "unigram_nfkc": dict(model_type="unigram", vocab_size=900, user_defined_symbols=["<tool>", "@@", "▁▁"],
                         control_symbols=["<ctrl>"]),
    "bpe_bytes": dict(model_type="bpe", vocab_size=1200, byte_fallback=True, user_defined_symbols=["<sep>"],
                      split_digits=True, character_coverage=0.98, normalization_rule_tsv="custom"),
    "unigram_suffix_bytes": dict(model_type="unigram", vocab_size=1200, byte_fallback=True, character_coverage=0.98,
                                 treat_whitespace_as_suffix=True, normalization_rule_tsv="custom",
                                 remove_extra_whitespaces=False),
    "bpe_identity": dict(model_type="bpe", vocab_size=1200, normalization_rule_name="identity",
                         add_dummy_prefix=False, allow_whitespace_only_pieces=True, character_coverage=0.98),
    "char": dict(model_type="char", vocab_size=1000, character_coverage=0.98, normalization_rule_name="identity"),
}

# Texts for the features the corpus rarely reaches (user-defined and control symbols, whitespace runs, the
# custom rules), appended to each expectation file with their own "hex" field.
SPM_EXTRA_TEXTS = ["<tool>call@@x<tool>", "a@@@@b <ctrl> c", "x  \u2581\u2581 y", "   ", " \t\n ", "<sep>12345<sep>",
                   "ﬁ ｶﾀｶﾅ ①②", "A\u0300 \u212b", "\u2581", "\u2581\u2581a\u2581", "end with space ", "<unk><s></s>",
                   "Wait... what.... ok..", "a\u030a A\u030a \u212b", "zero\u200bwidth \u200b\u200b", "ＦＵＬＬ ｗｉｄｔｈ！",
                   "\ufb01ne \ufb02ow \u2460\u2461\u2468", "tab\there\r\nnew\u3000line\u00a0nbsp"]

# The corpus lines whose reference ids are kept: every line of the small, tricky kinds, and every STRIDE-th of
# the others (a deterministic sample keeps the committed files small).
SPM_SAMPLE_KINDS = {"special", "edge", "invalid", "punct", "emoji", "digits"}
SPM_SAMPLE_STRIDE = {"char": 12}
SPM_SAMPLE_DEFAULT_STRIDE = 4


def spm_sample(name, texts):
    stride = SPM_SAMPLE_STRIDE.get(name, SPM_SAMPLE_DEFAULT_STRIDE)
    return [i for i, (kind, _) in enumerate(texts) if kind in SPM_SAMPLE_KINDS or i % stride == 0]


def make_spm_models(out_dir):
    import io
    import tempfile
    import sentencepiece as spm
    texts = corpus()
    training = [t for _, t in texts if t.strip()]
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "custom.tsv")
        with open(rules, "w", encoding="utf-8") as f:
            for src, dst in CUSTOM_RULES:
                f.write(" ".join(f"{c:X}" for c in src) + "\t" + " ".join(f"{c:X}" for c in dst) + "\n")
        for name, args in SPM_MODELS.items():
            model = io.BytesIO()
            options = dict(character_coverage=0.995, hard_vocab_limit=False, num_threads=1, minloglevel=2)
            options.update(args)
            if options.get("normalization_rule_tsv") == "custom":
                options["normalization_rule_tsv"] = rules
            spm.SentencePieceTrainer.train(sentence_iterator=iter(training), model_writer=model, **options)
            path = os.path.join(out_dir, name + ".model")
            with open(path, "wb") as f:
                f.write(model.getvalue())
            sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
            sample = spm_sample(name, texts)
            with open(os.path.join(out_dir, name + ".expected.jsonl"), "w", encoding="utf-8") as f:
                header = {"model": name + ".model", "reference": f"sentencepiece {spm.__version__}",
                          "fields": {"i": "corpus line (absent: the line carries its text as hex)",
                                     "ids": "encode(text)", "d": "decode(ids), every 5th line"}}
                f.write(json.dumps({"header": header}) + "\n")
                for k, i in enumerate(sample):
                    ids = sp.encode(texts[i][1])
                    line = {"i": i, "ids": ids}
                    if k % 5 == 0:
                        line["d"] = sp.decode(ids)
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
                for t in SPM_EXTRA_TEXTS:
                    ids = sp.encode(t)
                    f.write(json.dumps({"hex": t.encode("utf-8").hex(), "ids": ids, "d": sp.decode(ids)},
                                       ensure_ascii=False) + "\n")
            print(f"{path}: {os.path.getsize(path)} bytes, {sp.vocab_size()} pieces, {len(sample)} corpus texts")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "tokenizer", "gguf"),
                        help="where the ggml-vocab-*.gguf files go (ignored by git there)")
    parser.add_argument("--vocabs", action="store_true", help="write the six vocab-only GGUF files")
    parser.add_argument("--llama-cpp", action="store_true", help="write llama.cpp's ids where they differ")
    parser.add_argument("--spm", action="store_true", help="retrain the SentencePiece test models")
    args = parser.parse_args()
    if not (args.vocabs or args.llama_cpp or args.spm):
        args.vocabs = True
    tok_dir = os.path.join(args.shared, "tokenizers")
    data_dir = os.path.join(ROOT, "tests", "data", "tokenizer", "gguf")
    if args.vocabs:
        write_vocabs(tok_dir, args.out)
    if args.llama_cpp:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_vocabs(tok_dir, args.out if args.vocabs else tmp)
            write_llama_cpp_reference(tok_dir, args.shared, os.path.join(data_dir, "llama_cpp"), paths)
    if args.spm:
        make_spm_models(os.path.join(data_dir, "spm"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

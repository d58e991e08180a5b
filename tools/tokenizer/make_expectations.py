#!/usr/bin/env python3
"""Writes the reference token ids of every tokenizer we ship for every line of the tokenizer corpus.

Output: tests/data/tokenizer/expected/<name>.jsonl, tests/data/tokenizer/expected/hf_variants.jsonl (see
write_variants(): tokenizer.json constructs the shipped tokenizers do not use, on their vocabularies) and
tests/data/tokenizer/expected/VERSIONS.json.

Each file starts with one header object ({"header": {...}}) describing the reference and the fields; then one
object per corpus line, in corpus order:
  "a"   ids with add_special_tokens=False, special tokens in the text parsed (the reference's default)
  "t"   ids with add_special_tokens=True, present only where they differ from
        header.template_prefix + a + header.template_suffix (the single-sequence template)
  "n"   ids with add_special_tokens=False and special tokens NOT parsed (HF `encode_special_tokens=True`, tiktoken
        `disallowed_special=()`), present only where they differ from "a"
  "d"   the reference decode of "a" (skip_special_tokens=False), on a sample of lines (every 5th line and every
        line of kind "special")
  "ds"  the same with skip_special_tokens=True
Texts that are not valid UTF-8 are first decoded with Python's bytes.decode('utf-8', 'replace') (one U+FFFD per
maximal ill-formed subpart), which is what the C++ tokenizers do through sanitize_utf8().

References:
  HF tokenizer.json folders (llama2, chatglm3, phi3, minilm): tokenizers.Tokenizer.from_file, i.e. exactly the
    pipeline stored in the file. llama2/tokenizer.json holds three merges whose pieces contain a plain space
    ("   ", "     ", "▁  "), which `tokenizers` refuses to load ("a b" must split into exactly two parts); they
    are resolved to the only split whose two parts and whose concatenation are all in the vocabulary, as the
    C++ loader does (see src/tokenizer/hf/bpe_model.cpp).
  qwen2, gpt2 (vocab.json + merges.txt): transformers.AutoTokenizer.from_pretrained(dir) (gpt2 has no
    config.json, so tokenizer_type="gpt2" names its class); ids of the backend tokenizer are checked equal to
    AutoTokenizer's own encode. Decodes come from the backend pipeline (transformers' decode adds no clean-up for
    these two: clean_up_tokenization_spaces is False).
  llama3/tokenizer.model, cl100k/cl100k_base.tiktoken: the `tiktoken` package with the Llama 3 pattern and its 256
    special tokens as Meta's reference tokenizer (llama/tokenizer.py) defines them, and cl100k_base's pattern and
    special tokens from tiktoken_ext.openai_public. "t" prepends <|begin_of_text|> for Llama 3 (Meta's
    encode(bos=True)); cl100k has no template.
  Padding and truncation settings stored in a tokenizer.json are switched off (the C++ tokenizers leave both to
  the caller).
  llama2/tokenizer.model: the `sentencepiece` package (encode with add_bos False; "t" prepends <s>); SentencePiece
    never parses control tokens from text, so it has no "n".

Usage: make_expectations.py [--shared DIR] [--corpus PATH] [--out DIR] [--only name,name,variants]
Needs: pip install tokenizers transformers tiktoken sentencepiece (versions used: VERSIONS.json).
"""
import argparse
import base64
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                  r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")


def llama3_special_tokens(n_base):
    n_reserved = 256
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(5, n_reserved - 5)]
    return {name: n_base + i for i, name in enumerate(names)}


def resolve_legacy_merges(tokenizer_json):
    """Turns "a b" merges into [a, b] pairs; a piece containing spaces is split where both parts and their
    concatenation are in the vocabulary (the only reading that `tokenizers` could have meant)."""
    model = tokenizer_json["model"]
    if "merges" not in model:
        return
    vocab = model["vocab"]
    pairs = []
    for m in model["merges"]:
        if not isinstance(m, str):
            pairs.append(m)
            continue
        parts = m.split(" ")
        if len(parts) == 2:
            pairs.append(parts)
            continue
        cands = [(m[:i], m[i + 1:]) for i, c in enumerate(m) if c == " "]
        cands = [(a, b) for a, b in cands if a and b and a in vocab and b in vocab and a + b in vocab]
        if len(cands) != 1:
            raise ValueError(f"ambiguous merge {m!r}: {cands}")
        pairs.append(list(cands[0]))
    model["merges"] = pairs


def load_corpus(path):
    rows = []
    with open(path, encoding="ascii") as f:
        for line in f:
            r = json.loads(line)
            rows.append((r["kind"], bytes.fromhex(r["hex"]).decode("utf-8", "replace")))
    return rows


class HfRef:
    """A tokenizers.Tokenizer (the pipeline) as reference."""

    def __init__(self, tk, source):
        # Padding and truncation (minilm's tokenizer.json pads to 128) are the caller's business, not the
        # tokenizer's: the C++ encode returns the whole sequence.
        tk.no_padding()
        tk.no_truncation()
        self.tk = tk
        self.source = source

    def encode(self, text, add_special, parse_special):
        self.tk.encode_special_tokens = not parse_special
        try:
            return self.tk.encode(text, add_special_tokens=add_special).ids
        finally:
            self.tk.encode_special_tokens = False

    def decode(self, ids, skip_special):
        return self.tk.decode(ids, skip_special_tokens=skip_special)


class TiktokenRef:
    def __init__(self, enc, bos, source):
        self.enc = enc
        self.bos = bos
        self.source = source

    def encode(self, text, add_special, parse_special):
        if parse_special:
            ids = self.enc.encode(text, allowed_special="all")
        else:
            ids = self.enc.encode(text, disallowed_special=())
        if add_special and self.bos is not None:
            ids = [self.bos] + ids
        return ids

    def decode(self, ids, skip_special):
        if skip_special:
            ids = [i for i in ids if i not in self.enc._special_tokens.values()]
        return self.enc.decode_bytes(ids).decode("utf-8", "replace")


class SentencePieceRef:
    def __init__(self, sp, source):
        self.sp = sp
        self.source = source

    def encode(self, text, add_special, parse_special):
        ids = self.sp.encode(text)
        if add_special:
            ids = [self.sp.bos_id()] + ids
        return ids

    def decode(self, ids, skip_special):
        # SentencePiece's decode always drops control tokens.
        return self.sp.decode(ids)


def make_refs(shared, only):
    tok_dir = os.path.join(shared, "tokenizers")
    refs = {}

    def want(name):
        return not only or name in only

    if any(want(n) for n in ("llama2", "chatglm3", "phi3", "minilm", "qwen2", "gpt2")):
        import tokenizers
    for name in ("llama2", "chatglm3", "phi3", "minilm"):
        if not want(name):
            continue
        path = os.path.join(tok_dir, name, "tokenizer.json")
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        resolve_legacy_merges(j)
        tk = tokenizers.Tokenizer.from_str(json.dumps(j))
        refs[name] = HfRef(tk, f"tokenizers {tokenizers.__version__}: Tokenizer of {name}/tokenizer.json")
    if want("qwen2") or want("gpt2"):
        import transformers
        from transformers import AutoTokenizer
    for name, kwargs in (("qwen2", {}), ("gpt2", {"tokenizer_type": "gpt2"})):
        if not want(name):
            continue
        t = AutoTokenizer.from_pretrained(os.path.join(tok_dir, name), **kwargs)
        if getattr(t, "clean_up_tokenization_spaces", False):
            raise RuntimeError(f"{name}: clean_up_tokenization_spaces is on; decodes would differ from the pipeline")
        ref = HfRef(t.backend_tokenizer, f"transformers {transformers.__version__}: AutoTokenizer.from_pretrained("
                    f"{name}{', tokenizer_type=gpt2' if kwargs else ''}) ({type(t).__name__})")
        ref.auto = t
        refs[name] = ref
    if want("llama3") or want("cl100k"):
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    if want("llama3"):
        ranks = load_tiktoken_bpe(os.path.join(tok_dir, "llama3/tokenizer.model"))
        specials = llama3_special_tokens(len(ranks))
        enc = tiktoken.Encoding("llama3", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
        refs["llama3"] = TiktokenRef(enc, specials["<|begin_of_text|>"],
                                     f"tiktoken {tiktoken.__version__}: llama3/tokenizer.model, Meta's pattern "
                                     "and 256 special tokens")
    if want("cl100k"):
        ranks = load_tiktoken_bpe(os.path.join(tok_dir, "cl100k/cl100k_base.tiktoken"))
        specials = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}
        enc = tiktoken.Encoding("cl100k_base", pat_str=CL100K_PATTERN, mergeable_ranks=ranks,
                                special_tokens=specials)
        refs["cl100k"] = TiktokenRef(enc, None, f"tiktoken {tiktoken.__version__}: cl100k/cl100k_base.tiktoken")
    if want("llama2_sentencepiece"):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(tok_dir, "llama2/tokenizer.model"))
        refs["llama2_sentencepiece"] = SentencePieceRef(
            sp, f"sentencepiece {spm.__version__}: llama2/tokenizer.model")
    return refs


def template_of(ref):
    """Prefix and suffix that add_special_tokens=True puts around a single sequence."""
    probe = "probe"
    a = ref.encode(probe, False, True)
    t = ref.encode(probe, True, True)
    for i in range(len(t) - len(a) + 1):
        if t[i:i + len(a)] == a:
            return t[:i], t[i + len(a):]
    raise RuntimeError("template does not contain the sequence")


def write_expectations(name, ref, corpus, out_dir):
    prefix, suffix = template_of(ref)
    has_n = not isinstance(ref, SentencePieceRef)
    header = {
        "name": name,
        "reference": ref.source,
        "invalid_utf8": "texts that are not valid UTF-8 were decoded with bytes.decode('utf-8', 'replace') first",
        "template_prefix": prefix,
        "template_suffix": suffix,
        "fields": {"a": "add_special_tokens=False, parse special", "t": "add_special_tokens=True, only if != "
                   "prefix+a+suffix", "n": "add_special_tokens=False, special tokens not parsed, only if != a",
                   "d": "decode(a)", "ds": "decode(a, skip_special_tokens=True)"},
    }
    n_ids = 0
    path = os.path.join(out_dir, f"{name}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"header": header}, ensure_ascii=False, separators=(",", ":")) + "\n")
        for i, (kind, text) in enumerate(corpus):
            a = ref.encode(text, False, True)
            row = {"a": a}
            t = ref.encode(text, True, True)
            if t != prefix + a + suffix:
                row["t"] = t
            if has_n:
                n = ref.encode(text, False, False)
                if n != a:
                    row["n"] = n
            if hasattr(ref, "auto"):
                auto_ids = ref.auto(text, add_special_tokens=False)["input_ids"]
                if auto_ids != a:
                    raise RuntimeError(f"{name}: AutoTokenizer and its backend disagree on line {i}")
            if i % 5 == 0 or kind == "special":
                row["d"] = ref.decode(a, False)
                row["ds"] = ref.decode(a, True)
            n_ids += len(a)
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(corpus)} lines, {n_ids} ids, {os.path.getsize(path)} bytes")



# ---------------------------------------------------------------------------------------------------------------
# Pipeline variants: tokenizer.json constructs that no shipped tokenizer uses (other pre-tokenizers, split
# behaviors, normalizers, post-processors, decoders, added-token flags, BPE options), each checked against
# `tokenizers` on a base vocabulary. The C++ test (tests/tokenizer/hf/test_hf_variants.cpp) rebuilds every
# variant from the same base files and the same overrides.
#   base "gpt2_bpe": {"model": {"type": "BPE", "vocab": gpt2/vocab.json, "merges": the lines of gpt2/merges.txt
#                    after its "#version" line}} and nothing else
#   base "minilm", "llama2": their tokenizer.json
#   base "inline": the "tokenizer" object stored in the variant
# then "set" replaces top-level keys and "model_set" keys of "model".

META = "\u2581"


def byte_level(add_prefix_space=False, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True, "use_regex": use_regex}


def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior,
            "invert": invert}


def added(id_, content, special=False, lstrip=False, rstrip=False, single_word=False, normalized=None):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


def inline_wordpiece_bpe():
    """A small BPE with continuing_subword_prefix "##" and end_of_word_suffix "</w>"."""
    letters = "abcdefghilmnoprstuwy"
    vocab = {"[UNK]": 0}
    for c in letters:
        for v in (c, "##" + c, c + "</w>", "##" + c + "</w>"):
            vocab.setdefault(v, len(vocab))
    merges = []
    for word in ["the", "then", "this", "other", "tests", "test", "stop", "heap", "help", "shape", "paths"]:
        units = [word[0]] + ["##" + c for c in word[1:]]
        units[-1] += "</w>"
        while len(units) > 1:
            a, b = units[0], units[1]
            merged = a + b[2:]
            vocab.setdefault(merged, len(vocab))
            if [a, b] not in merges:
                merges.append([a, b])
            units = [merged] + units[2:]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "[UNK]", special=True)],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
        "model": {"type": "BPE", "dropout": None, "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


VARIANTS = [
    {"name": "gpt2_prefix_space_roberta", "base": "gpt2_bpe",
     "set": {"pre_tokenizer": byte_level(add_prefix_space=True), "decoder": byte_level(),
             "added_tokens": [added(50256, "<|endoftext|>", special=True, lstrip=True)],
             "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 50256],
                                "cls": ["<|endoftext|>", 50256], "trim_offsets": True, "add_prefix_space": True}}},
    {"name": "gpt2_split_behaviors", "base": "gpt2_bpe",
     "set": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
         split(r"\s+", "MergedWithPrevious"), split("e", "MergedWithNext", regex=False),
         split(r"[0-9]", "Contiguous"), byte_level(use_regex=False)]},
         "decoder": byte_level()}},
    {"name": "gpt2_split_invert", "base": "gpt2_bpe",
     "set": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
         split(r"\p{L}+|\p{N}+", "Removed", invert=True), {"type": "Punctuation", "behavior": "Contiguous"},
         {"type": "Digits", "individual_digits": False}, byte_level(use_regex=False)]},
         "decoder": byte_level()}},
    {"name": "gpt2_whitespace_normalizers", "base": "gpt2_bpe",
     "set": {"normalizer": {"type": "Sequence", "normalizers": [
         {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True},
         {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"}]},
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, byte_level(use_regex=False)]},
         "decoder": byte_level()}},
    {"name": "gpt2_whitespace_split_accents", "base": "gpt2_bpe",
     "set": {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "WhitespaceSplit"}, {"type": "CharDelimiterSplit", "delimiter": "-"},
                 byte_level(use_regex=False)]},
             "decoder": byte_level()}},
    {"name": "gpt2_ignore_merges", "base": "gpt2_bpe", "model_set": {"ignore_merges": True},
     "set": {"pre_tokenizer": byte_level(), "decoder": byte_level()}},
    {"name": "gpt2_added_token_flags", "base": "gpt2_bpe",
     "set": {"normalizer": {"type": "Lowercase"}, "pre_tokenizer": byte_level(), "decoder": byte_level(),
             "added_tokens": [added(50256, "<|endoftext|>", special=True, lstrip=True, rstrip=True),
                              added(50257, "Hello", single_word=True),
                              added(50258, "[MASK]", special=True, lstrip=True, single_word=True),
                              added(50259, "xyz", normalized=False, rstrip=True),
                              added(50260, " world", normalized=True),
                              added(50261, "<tag>", special=False, normalized=False)],
             "post_processor": {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                           {"Sequence": {"id": "A", "type_id": 0}},
                                           {"SpecialToken": {"id": "[MASK]", "type_id": 0}}],
                                "pair": [],
                                "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [50256],
                                                                     "tokens": ["<|endoftext|>"]},
                                                   "[MASK]": {"id": "[MASK]", "ids": [50258], "tokens": ["[MASK]"]}}}}},
    {"name": "minilm_plain_bert", "base": "minilm", "model_set": {"max_input_chars_per_word": 10},
     "set": {"normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False,
                            "strip_accents": False, "lowercase": False},
             "pre_tokenizer": {"type": "Whitespace"},
             "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
             "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}}},
    {"name": "minilm_digits_punctuation", "base": "minilm",
     "set": {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
                                                                {"type": "Lowercase"}]},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
                 {"type": "Digits", "individual_digits": True}]},
             "post_processor": {"type": "Sequence", "processors": [
                 {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
                 {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}]}}},
    {"name": "llama2_metaspace_first", "base": "llama2",
     "set": {"normalizer": None,
             "pre_tokenizer": {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False},
             "decoder": {"type": "Sequence", "decoders": [
                 {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False},
                 {"type": "ByteFallback"}, {"type": "Fuse"}]}}},
    {"name": "llama2_metaspace_split", "base": "llama2",
     "set": {"normalizer": None,
             "pre_tokenizer": {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
             "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"},
                                                          {"type": "Metaspace", "replacement": META,
                                                           "prepend_scheme": "always", "split": True}]}}},
    {"name": "llama2_metaspace_never", "base": "llama2",
     "set": {"normalizer": {"type": "Prepend", "prepend": META},
             "pre_tokenizer": {"type": "Metaspace", "replacement": META, "prepend_scheme": "never", "split": True},
             "decoder": {"type": "Sequence", "decoders": [
                 {"type": "Replace", "pattern": {"Regex": META + "+"}, "content": " "},
                 {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 2,
                                                              "stop": 0}]}}},
    {"name": "inline_prefix_suffix_bpe", "base": "inline", "tokenizer": inline_wordpiece_bpe()},
    {"name": "inline_prefix_suffix_bpe_fused_unk", "base": "inline", "tokenizer": inline_wordpiece_bpe(),
     "model_set": {"fuse_unk": True}, "set": {"decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True}}},
]

VARIANT_PROBES = [
    "Hello world", "hello  World", " Hello", "Hello, world!", "HelloWorld Hello_world", "say Hello there",
    "<|endoftext|>", " <|endoftext|> x", "a <|endoftext|>  b", "[MASK] test [MASK]x x[MASK]", "xyz   abc",
    "axyz b", "<tag>inside<tag>", " world world", "e-mail pre-e-mptive e", "12 345 6789 a1b22c333",
    "The then this other tests", "THE THEN test stop shape paths help heap", "unknown qqq zebra", "",
    "   ", "naïve café résumé Ωmega", "ﬁ ligature ① ½", "multiple   spaces\tand\ttabs\nnewline",
    "supercalifragilistic word", "<s>Hello</s> <s> </s>", "▁already▁marked", "中文 字符 混合 English",
]


def load_gpt2_bpe_base(tok_dir):
    with open(os.path.join(tok_dir, "gpt2/vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(os.path.join(tok_dir, "gpt2/merges.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f.read().split("\n")):
            line = line.rstrip("\r")
            if not line or (i == 0 and line.startswith("#version")):
                continue
            merges.append(line)
    return {"version": "1.0", "added_tokens": [], "normalizer": None, "pre_tokenizer": None, "post_processor": None,
            "decoder": None, "model": {"type": "BPE", "vocab": vocab, "merges": merges}}


def build_variant(v, tok_dir):
    import copy
    if v["base"] == "gpt2_bpe":
        j = load_gpt2_bpe_base(tok_dir)
    elif v["base"] == "inline":
        j = copy.deepcopy(v["tokenizer"])
    else:
        with open(os.path.join(tok_dir, v["base"], "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
    for k, val in v.get("set", {}).items():
        j[k] = val
    for k, val in v.get("model_set", {}).items():
        j["model"][k] = val
    return j


def write_variants(shared, corpus, out_dir):
    import tokenizers
    tok_dir = os.path.join(shared, "tokenizers")
    texts = VARIANT_PROBES + [t for i, (_, t) in enumerate(corpus) if i % 37 == 0 and len(t.encode()) <= 300]
    path = os.path.join(out_dir, "hf_variants.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        header = {"reference": f"tokenizers {tokenizers.__version__}",
                  "comment": "see write_variants() in tools/tokenizer/make_expectations.py",
                  "texts_hex": [t.encode("utf-8").hex() for t in texts]}
        f.write(json.dumps({"header": header}, separators=(",", ":")) + "\n")
        for v in VARIANTS:
            j = build_variant(v, tok_dir)
            resolve_legacy_merges(j)
            tk = tokenizers.Tokenizer.from_str(json.dumps(j))
            ref = HfRef(tk, "")
            row = {"name": v["name"], "base": v["base"], "set": v.get("set", {}), "model_set": v.get("model_set", {})}
            if v["base"] == "inline":
                row["tokenizer"] = v["tokenizer"]
            row["a"] = [ref.encode(t, False, True) for t in texts]
            # "t" and "n" only where they differ from "a" (index -> ids).
            row["t"] = {i: ids for i, t in enumerate(texts) if (ids := ref.encode(t, True, True)) != row["a"][i]}
            row["n"] = {i: ids for i, t in enumerate(texts) if (ids := ref.encode(t, False, False)) != row["a"][i]}
            row["d"] = [ref.decode(a, False) for a in row["a"]]
            row["ds"] = [ref.decode(a, True) for a in row["a"]]
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{path}: {len(VARIANTS)} variants x {len(texts)} texts, {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "../shared/data"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "tests/data/tokenizer/corpus.jsonl"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/tokenizer/expected"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    corpus = load_corpus(args.corpus)
    os.makedirs(args.out, exist_ok=True)
    refs = make_refs(args.shared, only)
    for name in sorted(refs):
        write_expectations(name, refs[name], corpus, args.out)
    if not only or "variants" in only:
        write_variants(args.shared, corpus, args.out)

    versions = {"python": platform.python_version()}
    for mod in ("tokenizers", "transformers", "tiktoken", "sentencepiece"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    with open(os.path.join(args.out, "VERSIONS.json"), "w", encoding="utf-8") as f:
        json.dump(versions, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One-thread encode throughput: our tokenizers against the reference libraries, on the tokenizer corpus, in
one run (pip install tokenizers transformers tiktoken sentencepiece).

  bench/tokenizer_speed.py [BUILD_DIR]      (default: build)

Each side encodes every corpus text once per pass (special tokens parsed, no BOS/EOS), best of 5 passes.
Prints a markdown table with MB/s of both and their ratio. llama2's tokenizer.json is left out: the shared copy
has NBSP characters turned into spaces in a few merges, which HF `tokenizers` refuses to load (our loader
repairs them; see tools/tokenizer/make_expectations.py); Llama 2 is measured through its tokenizer.model.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("AUTOGLM_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
CORPUS = os.path.join(ROOT, "tests", "data", "tokenizer", "corpus.jsonl")
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def texts():
    return [bytes.fromhex(json.loads(line)["hex"]).decode("utf-8", "replace") for line in open(CORPUS)]


def best_of(fn, corpus, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for t in corpus:
            fn(t)
        best = min(best, time.perf_counter() - start)
    return best


def hf_json(path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    return lambda t: tok.encode(t, add_special_tokens=False)


def hf_auto(path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path).backend_tokenizer
    return lambda t: tok.encode(t, add_special_tokens=False)


def tiktoken_llama3(path):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
    enc = tiktoken.Encoding("llama3", pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(path),
                            special_tokens={"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001})
    return lambda t: enc.encode(t, allowed_special="all")


def tiktoken_cl100k(path):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    pattern = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
               r"""\s*[\r\n]|\s+(?!\S)|\s""")
    enc = tiktoken.Encoding("cl100k_base", pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(path),
                            special_tokens={"<|endoftext|>": 100257, "<|fim_prefix|>": 100258,
                                            "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                                            "<|endofprompt|>": 100276})
    return lambda t: enc.encode(t, allowed_special="all")


def sentencepiece(path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=path)
    return lambda t: sp.encode(t)


CASES = [
    ("phi3 (tokenizer.json)", "tokenizers/phi3/tokenizer.json", hf_json),
    ("chatglm3 (tokenizer.json)", "tokenizers/chatglm3/tokenizer.json", hf_json),
    ("minilm (WordPiece)", "tokenizers/minilm/tokenizer.json", hf_json),
    ("qwen2 (vocab+merges)", "tokenizers/qwen2", hf_auto),
    ("llama3 (tiktoken)", "tokenizers/llama3/tokenizer.model", tiktoken_llama3),
    ("cl100k (tiktoken)", "tokenizers/cl100k/cl100k_base.tiktoken", tiktoken_cl100k),
    ("llama2 (SentencePiece)", "tokenizers/llama2/tokenizer.model", sentencepiece),
]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    binary = os.path.join(build, "tools", "tokenizer_speed")
    corpus = texts()
    nbytes = sum(len(t.encode()) for t in corpus)
    print(f"corpus: {len(corpus)} texts, {nbytes} bytes; one thread, best of 5")
    print("| tokenizer | ours MB/s | reference MB/s | reference | ours / reference |")
    print("|---|---|---|---|---|")
    for name, rel, make in CASES:
        path = os.path.join(SHARED, rel)
        ours = json.loads(subprocess.check_output([binary, path, CORPUS, "5"]))
        fn = make(path)
        ref_s = best_of(fn, corpus)
        ref_mb = nbytes / ref_s / 1e6
        lib = {hf_json: "tokenizers", hf_auto: "tokenizers (transformers)", tiktoken_llama3: "tiktoken",
               tiktoken_cl100k: "tiktoken", sentencepiece: "sentencepiece"}[make]
        print(f"| {name} | {ours['mb_per_s']:.1f} | {ref_mb:.1f} | {lib} | {ours['mb_per_s'] / ref_mb:.2f} |")


if __name__ == "__main__":
    main()

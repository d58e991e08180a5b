// Tokenizers from the vocabulary stored in GGUF metadata (tokenizer.ggml.*), encoding exactly as llama.cpp's
// llama_tokenize does:
//  - "llama": SentencePiece-style BPE by scores over UTF-8 characters with byte fallback (<0xXX>), a space
//    prefix (tokenizer.ggml.add_space_prefix, default true) at the start and after every special token;
//  - "gpt2": byte-level BPE by the merges list after the pre-tokenizer regexes of tokenizer.ggml.pre;
//  - "bert": WordPiece.
// Special and user-defined token strings are split out first (llama.cpp's tokenizer_st_partition: longest
// tokens first); with parse_special=false only user-defined tokens are, as in llama.cpp, which also treats
// the end-of-turn, end-of-generation and FIM tokens it recognises by their text as control tokens whatever
// their stored type. add_special_tokens follows tokenizer.ggml.add_bos_token / add_eos_token (and
// add_sep_token for BERT). The reference is the llama.cpp vendored by llama-cpp-python 0.3.36: its ids on the
// tokenizer corpus are in tests/data/tokenizer/gguf/llama_cpp/ (tools/tokenizer/make_gguf_vocabs.py
// --llama-cpp).
//
// Decoding gives the bytes of the pieces (▁ -> space, byte tokens as bytes, byte-level pieces mapped back),
// control and unknown tokens as their text unless skip_special_tokens, and drops the space the encoder
// prefixed to the first piece, so that decode(encode(x)) == x. Unlike llama_detokenize it does not "clean up"
// spaces before punctuation, which would lose information.
#pragma once

#include <memory>

#include "core/status.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

// Errors name the file (GgufFile::path()) and the missing or malformed key.
Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const GgufFile& file);

}  // namespace autoglm

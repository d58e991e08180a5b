// Vocab-only GGUF images of llama.cpp's test vocabularies (ggml-vocab-<name>.gguf), built in memory from the
// intact sources in <shared>/tokenizers with the rules of tools/tokenizer/make_gguf_vocabs.py, which writes
// the same vocabularies as files (the shared ggml-vocab-*.gguf files are damaged: every byte >= 0x80 became
// EF BF BD). Nothing is committed but the sources' rules:
//  - llama-spm: llama2/tokenizer.model (SentencePiece): pieces, scores, types; model "llama".
//  - phi-3:     phi3/tokenizer.json + tokenizer_config.json, padded to 32064 tokens; scores from merge ranks.
//  - gpt-2:     gpt2/vocab.json + merges.txt; pre "gpt-2".
//  - bert-bge:  minilm/tokenizer.json (the uncased BERT vocabulary bge-small-en-v1.5 shares), phantom-space
//               pieces; model "bert".
//  - qwen2:     qwen2/vocab.json + merges.txt + added tokens of tokenizer_config.json; pre "qwen2".
//  - llama-bpe: llama3/tokenizer.model (tiktoken ranks) -> byte-level tokens, Meta's 256 special tokens, and
//               merges = every split of a token into two tokens, by the token's rank, then the parts' ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm::test {

// The names above, in that order.
const std::vector<std::string>& vocab_gguf_names();

// The GGUF file image of one vocabulary; errors name the source file.
Expected<std::vector<uint8_t>> build_vocab_gguf(const std::string& name, const std::string& tokenizer_dir);

}  // namespace autoglm::test

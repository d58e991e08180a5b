// Small tokenizer files for the error tests and the mutation loops: a prefix of cl100k_base's rank file, a
// hand-written SentencePiece ModelProto, and tiny GGUF vocabularies of each llama.cpp model type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tiktoken_tokenizer.h"

namespace autoglm::test {

// The first n_ranks lines of cl100k_base.tiktoken (its first 256 ranks are the single bytes).
std::string small_tiktoken_file(size_t n_ranks);
// cl100k_base's pattern, <|endoftext|> = n_ranks as EOS, and <|fim_prefix|> = n_ranks + 1.
TiktokenSpec small_tiktoken_spec(int32_t n_ranks = 2000);

struct SpmPieceSpec {
  std::string piece;
  float score = 0.0f;
  int32_t type = 1;  // SentencePiece's ModelProto.SentencePiece.Type
};
// A serialized ModelProto with these pieces, TrainerSpec.model_type / byte_fallback and, when not empty, a
// NormalizerSpec.precompiled_charsmap.
std::string spm_model_bytes(const std::vector<SpmPieceSpec>& pieces, int model_type = 1,
                            bool byte_fallback = false, const std::string& charsmap = "");

// Tiny vocab-only GGUF images: "llama" (scores, byte tokens, a control token), "gpt2" (merges, pre "gpt-2")
// and "bert" (phantom-space pieces).
std::vector<uint8_t> tiny_gguf_vocab(const std::string& model);

}  // namespace autoglm::test

// A tokenizer vocabulary read from GGUF metadata (tokenizer.ggml.*), validated and completed with llama.cpp's
// defaults (llama_vocab::impl::load): model, pre-tokenizer, tokens, scores, token types, merges, special ids,
// add_bos / add_eos / add_sep / add_space_prefix, the WordPiece normalizer options, and the token attributes
// llama.cpp derives from token texts and the model name (end-of-turn, end-of-generation and FIM tokens made
// CONTROL, Phi-3's rstrip).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gguf/gguf_file.h"
#include "tokenizer/native/gguf_pretokenizers.h"

namespace autoglm::native {

enum class GgufVocabType { kSpm, kBpe, kWpm };

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class GgufTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct GgufVocab {
  GgufVocabType type = GgufVocabType::kSpm;
  std::string model;               // tokenizer.ggml.model
  std::string pre;                 // tokenizer.ggml.pre ("default" when absent)
  GgufPreTokenizer pre_tokenizer;  // BPE only
  std::vector<std::string> tokens;
  std::vector<float> scores;  // 0 when absent
  std::vector<GgufTokenType> types;
  std::vector<uint8_t> rstrip;  // per token: drop whitespace after it when parsed from text
  std::vector<std::pair<int32_t, int32_t>> merges;  // BPE: (left, right) ids, by rank
  std::optional<int32_t> bos, eos, unk, sep, pad, eot;
  bool add_bos = false;
  bool add_eos = false;
  bool add_sep = false;
  bool add_space_prefix = false;
  // WordPiece (BertNormalizer options): tokenizer.ggml.normalizer.lowercase, .strip_accents (default:
  // lowercase).
  bool lowercase = true;
  bool strip_accents = true;
};

// Errors name the file (file.path()) and the key.
Expected<GgufVocab> load_gguf_vocab(const GgufFile& file);

}  // namespace autoglm::native

// The parts of transformers' tokenizer_config.json (and special_tokens_map.json) that decide tokenization:
// the tokenizer class, added tokens and the named special tokens.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/hf/added_vocabulary.h"

namespace autoglm::hf {

struct TokenizerConfig {
  std::optional<std::string> tokenizer_class;
  std::vector<AddedToken> added_tokens_decoder;  // ids set, sorted by id
  // Named special tokens: content and flags (id left at -1). A plain string in the file gives the flags
  // transformers gives it: special, not normalized.
  std::optional<AddedToken> bos_token;
  std::optional<AddedToken> eos_token;
  std::optional<AddedToken> unk_token;
  std::optional<AddedToken> pad_token;
  std::vector<AddedToken> additional_special_tokens;
  std::optional<bool> add_prefix_space;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
};

// Reads <dir>/tokenizer_config.json, filling the special tokens missing there from
// <dir>/special_tokens_map.json. nullopt when neither file exists; kParseError naming the file when one is
// malformed.
Expected<std::optional<TokenizerConfig>> read_tokenizer_config(const std::string& dir);

// Directory part of a path ("." for a bare file name).
std::string parent_directory(const std::string& path);

}  // namespace autoglm::hf

// Sampling defaults a checkpoint ships in generation_config.json. Every field is optional: an absent key
// means "the checkpoint has no opinion", and the caller's own defaults apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm {

struct GenerationConfig {
  std::optional<double> temperature;
  std::optional<int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<bool> do_sample;
  std::vector<int64_t> eos_token_ids;  // "eos_token_id": an int or a list; empty when absent
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> max_new_tokens;
  std::optional<int64_t> max_length;  // prompt + generated tokens, the older HF limit
};

// `model_dir_or_file`: a model directory (its generation_config.json is read) or the file itself. A missing
// file yields an all-empty GenerationConfig, not an error: many checkpoints ship none (kNotFound only when
// the directory itself is missing). kParseError (naming
// the file and the key) for malformed JSON or a key of the wrong type. Null values read as absent.
Expected<GenerationConfig> load_generation_config(const std::string& model_dir_or_file);

// The same from JSON text; `origin` names it in error messages.
Expected<GenerationConfig> parse_generation_config(const std::string& json_text, const std::string& origin);

}  // namespace autoglm

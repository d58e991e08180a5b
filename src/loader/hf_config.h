// ModelConfig from a Hugging Face config.json, of either generation:
//  - transformers 5 writes `rope_parameters: {rope_type, rope_theta, partial_rotary_factor?, factor, ...}`
//  and
//    `dtype`;
//  - older checkpoints write top-level `rope_theta`, `rope_scaling: {rope_type | type, factor, ...}` (or
//  null),
//    top-level `partial_rotary_factor` and `torch_dtype`.
// Model-type defaults follow the HF config classes: GLM's attention_bias and partial_rotary_factor, Qwen2's
// always-present q/k/v bias, Mistral's all-layers sliding window, Qwen2/Qwen3's use_sliding_window with
// max_window_layers. The result is validated (ModelConfig::validate) before it is returned.
#pragma once

#include <string>

#include "core/status.h"
#include "loader/model_config.h"

namespace autoglm {

// `model_dir_or_config_json`: a model directory (its config.json is read) or the config file itself.
// kNotFound: no such file. kParseError: malformed JSON, a missing required key (vocab_size, hidden_size,
// intermediate_size, num_hidden_layers, num_attention_heads, model_type) or a key of the wrong type, or an
// inconsistent config; the message names the file and the key. kUnsupported: a rope type other than
// default/linear/llama3, or a layer type other than full/sliding attention.
Expected<ModelConfig> load_hf_config(const std::string& model_dir_or_config_json);

// The same from JSON text; `origin` names it in error messages.
Expected<ModelConfig> parse_hf_config(const std::string& json_text, const std::string& origin);

}  // namespace autoglm

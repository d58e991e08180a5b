// Hyper-parameters of a decoder-only transformer, independent of the file format they came from.
// Filled from HF config.json (hf_config.h) or GGUF metadata; consumed by src/model/arch/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm {

enum class RopeScalingType : uint8_t {
  kNone,    // "default"
  kLinear,  // positions divided by factor
  kLlama3,  // Llama 3.1 frequency-band scaling
};

// Layers a config may declare. Both parsers check it before sizing per-layer tables from the file, and
// ModelConfig::validate with the other sizes.
constexpr int64_t kMaxLayers = int64_t{1} << 16;

struct RopeConfig {
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;  // fraction of head_dim that rotates
  RopeScalingType scaling = RopeScalingType::kNone;
  // Per-frequency divisors of inv_freq (GGUF's rope_freqs tensor, how llama.cpp stores Llama 3 scaling);
  // empty when unused.
  std::vector<float> frequency_factors;
  double factor = 1.0;
  double low_freq_factor = 1.0;                  // kLlama3
  double high_freq_factor = 4.0;                 // kLlama3
  int64_t original_max_position_embeddings = 0;  // kLlama3
};

enum class LayerAttentionType : uint8_t { kFull, kSliding };

struct ModelConfig {
  std::string architecture;  // HF "architectures"[0], e.g. "LlamaForCausalLM"
  std::string model_type;    // HF "model_type", e.g. "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry biases (Qwen2, GLM)
  bool mlp_bias = false;
  RopeConfig rope;
  int64_t sliding_window = 0;                   // 0: none
  std::vector<LayerAttentionType> layer_types;  // one per layer; all kFull unless the config says otherwise
  std::vector<int64_t> bos_token_ids;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // the dtype the checkpoint was saved in ("bfloat16"), informational

  // Dims of each head that rotate: head_dim * partial_rotary_factor, truncated as HF does.
  int64_t rotary_dim() const;

  // Checks internal consistency (positive sizes, heads divide, head_dim even...) with messages naming
  // `origin` (the config file).
  Status validate(const std::string& origin) const;
};

}  // namespace autoglm

#include "loader/model_config.h"

#include <cmath>

namespace autoglm {
namespace {

std::string str(int64_t v) {
  return std::to_string(v);
}

}  // namespace

int64_t ModelConfig::rotary_dim() const {
  return static_cast<int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor);
}

Status ModelConfig::validate(const std::string& origin) const {
  auto fail = [&](const std::string& problem) { return parse_error(origin + ": " + problem); };
  // Upper bounds far above any published model (vocabularies reach ~1M, hidden sizes ~32K, heads ~256) keep
  // every product the builder forms (vocab x hidden, layers x heads x head_dim...) well inside int64, and
  // head_dim x partial_rotary_factor exact in a double.
  const struct {
    const char* name;
    int64_t value;
    int64_t limit;
  } sizes[] = {
      {"vocab_size", vocab_size, int64_t{1} << 24},
      {"hidden_size", hidden_size, int64_t{1} << 18},
      {"intermediate_size", intermediate_size, int64_t{1} << 20},
      {"num_hidden_layers", num_hidden_layers, kMaxLayers},
      {"num_attention_heads", num_attention_heads, int64_t{1} << 14},
      {"num_key_value_heads", num_key_value_heads, int64_t{1} << 14},
      {"head_dim", head_dim, int64_t{1} << 14},
  };
  for (const auto& [name, value, limit] : sizes) {
    if (value <= 0) return fail(std::string(name) + " must be positive, got " + str(value));
    if (value > limit) {
      return fail(std::string(name) + " " + str(value) + " exceeds the sanity limit of " + str(limit));
    }
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return fail("num_attention_heads " + str(num_attention_heads) +
                " is not divisible by num_key_value_heads " + str(num_key_value_heads));
  }
  // RoPE rotates pairs of dims.
  if (head_dim % 2 != 0) return fail("head_dim " + str(head_dim) + " must be even");
  if (!(rope.partial_rotary_factor > 0.0 && rope.partial_rotary_factor <= 1.0)) {
    return fail("partial_rotary_factor " + std::to_string(rope.partial_rotary_factor) + " must be in (0, 1]");
  }
  const int64_t rot = rotary_dim();
  if (rot <= 0 || rot % 2 != 0) {
    return fail("rotary dim " + str(rot) + " (head_dim " + str(head_dim) + " x partial_rotary_factor " +
                std::to_string(rope.partial_rotary_factor) + ") must be even and positive");
  }
  if (!(rope.theta > 0.0) || !std::isfinite(rope.theta)) {
    return fail("rope_theta " + std::to_string(rope.theta) + " must be positive");
  }
  switch (rope.scaling) {
    case RopeScalingType::kNone:
      break;
    case RopeScalingType::kLinear:
      if (!(rope.factor > 0.0))
        return fail("rope factor " + std::to_string(rope.factor) + " must be positive");
      break;
    case RopeScalingType::kLlama3:
      if (!(rope.factor > 0.0))
        return fail("rope factor " + std::to_string(rope.factor) + " must be positive");
      if (rope.original_max_position_embeddings <= 0) {
        return fail("rope original_max_position_embeddings must be positive, got " +
                    str(rope.original_max_position_embeddings));
      }
      // The llama3 schedule interpolates between the two wavelength bounds; equal factors divide by zero.
      if (!(rope.low_freq_factor > 0.0 && rope.high_freq_factor > rope.low_freq_factor)) {
        return fail("rope low_freq_factor " + std::to_string(rope.low_freq_factor) +
                    " and high_freq_factor " + std::to_string(rope.high_freq_factor) +
                    " must satisfy 0 < low < high");
      }
      break;
  }
  if (!(rms_norm_eps >= 0.0) || !std::isfinite(rms_norm_eps)) {
    return fail("rms_norm_eps " + std::to_string(rms_norm_eps) + " must be non-negative");
  }
  if (max_position_embeddings < 0) return fail("max_position_embeddings must not be negative");
  if (static_cast<int64_t>(layer_types.size()) != num_hidden_layers) {
    return fail("layer_types has " + str(static_cast<int64_t>(layer_types.size())) +
                " entries but num_hidden_layers is " + str(num_hidden_layers));
  }
  bool any_sliding = false;
  for (LayerAttentionType t : layer_types)
    any_sliding = any_sliding || t == LayerAttentionType::kSliding;
  if (any_sliding && sliding_window <= 0) {
    return fail("sliding layers need a positive sliding_window, got " + str(sliding_window));
  }
  if (sliding_window < 0) return fail("sliding_window must not be negative");
  return Status::ok();
}

}  // namespace autoglm

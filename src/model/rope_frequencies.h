// Inverse RoPE frequencies of a model, frequency scaling included, computed once at load.
#pragma once

#include <vector>

#include "loader/model_config.h"

namespace autoglm {

// inv_freq[i] for i < config.rotary_dim() / 2, in f32 as HF transformers computes them:
//   default: 1 / theta^(2i / rotary_dim)
//   linear:  default / factor
//   llama3:  wavelengths above original_max / low_freq_factor divided by factor, below
//            original_max / high_freq_factor kept, smoothly interpolated in between.
std::vector<float> rope_inverse_frequencies(const ModelConfig& config);

}  // namespace autoglm

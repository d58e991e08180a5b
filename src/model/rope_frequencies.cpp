#include "model/rope_frequencies.h"

#include <cmath>
#include <numbers>

namespace autoglm {

std::vector<float> rope_inverse_frequencies(const ModelConfig& config) {
  const RopeConfig& rope = config.rope;
  const int dim = static_cast<int>(config.rotary_dim());
  std::vector<float> inv_freq(static_cast<size_t>(dim / 2));
  for (int i = 0; i < dim / 2; ++i) {
    // Same f32 steps as torch: (arange(0, dim, 2).float() / dim), base ** that, reciprocal.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv_freq[i] = 1.0f / std::pow(static_cast<float>(rope.theta), exponent);
  }
  if (!rope.frequency_factors.empty()) {
    for (size_t i = 0; i < inv_freq.size() && i < rope.frequency_factors.size(); ++i) {
      inv_freq[i] = inv_freq[i] / rope.frequency_factors[i];
    }
  }
  switch (rope.scaling) {
    case RopeScalingType::kNone:
      break;
    case RopeScalingType::kLinear:
      for (float& f : inv_freq)
        f = f / static_cast<float>(rope.factor);
      break;
    case RopeScalingType::kLlama3: {
      const double old_context = static_cast<double>(rope.original_max_position_embeddings);
      const double low_freq_wavelen = old_context / rope.low_freq_factor;
      const double high_freq_wavelen = old_context / rope.high_freq_factor;
      const float factor = static_cast<float>(rope.factor);
      for (float& f : inv_freq) {
        const double wavelen = 2 * std::numbers::pi / f;
        if (wavelen > low_freq_wavelen) {
          f = f / factor;
        } else if (wavelen >= high_freq_wavelen) {
          const float smooth = static_cast<float>((old_context / wavelen - rope.low_freq_factor) /
                                                  (rope.high_freq_factor - rope.low_freq_factor));
          f = (1 - smooth) * f / factor + smooth * f;
        }
      }
      break;
    }
  }
  return inv_freq;
}

}  // namespace autoglm

#include "backend/cpu/kernels/ref/layer_norm_ref.h"

#include <cmath>

namespace autoglm {

void layer_norm_ref(const LayerNormArgs& a) {
  const int64_t d = a.x.shape.back(), rows = a.x.shape.rows();
  const float* weight = a.weight.as<const float>();
  const float* bias = a.bias.as<const float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.x.as<const float>() + r * d;
    float* out = a.out.as<float>() + r * d;
    double mean = 0;
    for (int64_t i = 0; i < d; ++i)
      mean += x[i];
    mean /= static_cast<double>(d);
    double var = 0;
    for (int64_t i = 0; i < d; ++i)
      var += (x[i] - mean) * (x[i] - mean);
    var /= static_cast<double>(d);
    const double inv_std = 1.0 / std::sqrt(var + a.eps);
    for (int64_t i = 0; i < d; ++i) {
      out[i] = static_cast<float>((x[i] - mean) * inv_std * weight[i] + (bias != nullptr ? bias[i] : 0.0));
    }
  }
}

}  // namespace autoglm

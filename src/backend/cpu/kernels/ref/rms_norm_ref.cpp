#include "backend/cpu/kernels/ref/rms_norm_ref.h"

#include <cmath>

namespace autoglm {

void rms_norm_ref(const RmsNormArgs& a) {
  const int64_t d = a.x.shape.back(), rows = a.x.shape.rows();
  const float* weight = a.weight.as<const float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.x.as<const float>() + r * d;
    float* out = a.out.as<float>() + r * d;
    double sum = 0;
    for (int64_t i = 0; i < d; ++i)
      sum += static_cast<double>(x[i]) * x[i];
    const double inv_rms = 1.0 / std::sqrt(sum / static_cast<double>(d) + a.eps);
    for (int64_t i = 0; i < d; ++i)
      out[i] = static_cast<float>(weight[i] * (x[i] * inv_rms));
  }
}

}  // namespace autoglm

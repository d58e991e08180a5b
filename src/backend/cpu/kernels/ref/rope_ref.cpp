#include "backend/cpu/kernels/ref/rope_ref.h"

#include <cmath>

namespace autoglm {

void rope_ref(const RopeArgs& a) {
  const int64_t t = a.x.shape[0], heads = a.x.shape[1], head_dim = a.x.shape[2], half = a.rotary_dim / 2;
  for (int64_t s = 0; s < t; ++s) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* x = a.x.as<const float>() + (s * heads + h) * head_dim;
      float* out = a.out.as<float>() + (s * heads + h) * head_dim;
      for (int64_t d = a.rotary_dim; d < head_dim; ++d)
        out[d] = x[d];
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = a.layout == RopeLayout::kNeox ? i : 2 * i;
        const int64_t i1 = a.layout == RopeLayout::kNeox ? i + half : 2 * i + 1;
        // The angle is an f32 product by definition (rope.h); only the rotation runs in double.
        const float angle =
            static_cast<float>(a.positions.as<const int32_t>()[s]) * a.inv_freq.as<const float>()[i];
        const double c = std::cos(static_cast<double>(angle)), sn = std::sin(static_cast<double>(angle));
        const double x0 = x[i0], x1 = x[i1];
        out[i0] = static_cast<float>(x0 * c - x1 * sn);
        out[i1] = static_cast<float>(x1 * c + x0 * sn);
      }
    }
  }
}

}  // namespace autoglm

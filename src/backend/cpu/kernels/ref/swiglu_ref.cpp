#include "backend/cpu/kernels/ref/swiglu_ref.h"

#include <cmath>

namespace autoglm {

void swiglu_ref(const SwigluArgs& a) {
  const int64_t rows = a.out.shape[0], f = a.out.shape[1];
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = a.x.as<const float>() + r * 2 * f;
    const float* up = gate + f;
    for (int64_t i = 0; i < f; ++i) {
      const double g = gate[i];
      a.out.as<float>()[r * f + i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
    }
  }
}

}  // namespace autoglm

#include "backend/cpu/kernels/ref/softmax_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace autoglm {

void softmax_ref(const SoftmaxArgs& a) {
  const int64_t c = a.x.shape.back(), rows = a.x.shape.rows();
  std::vector<double> e(static_cast<size_t>(c));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.x.as<const float>() + r * c;
    double m = -INFINITY;
    for (int64_t i = 0; i < c; ++i)
      m = std::max(m, static_cast<double>(x[i]));
    double sum = 0;
    for (int64_t i = 0; i < c; ++i)
      sum += e[i] = std::exp(x[i] - m);
    for (int64_t i = 0; i < c; ++i)
      a.out.as<float>()[r * c + i] = static_cast<float>(e[i] / sum);
  }
}

}  // namespace autoglm

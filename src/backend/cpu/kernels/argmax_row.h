// The greedy rule on one row, shared by the argmax and sample_rows CPU kernels: the index of the largest
// value, the lowest index on ties, NaN and -inf never taken, 0 for a row with nothing else.
#pragma once

#include <cstdint>
#include <limits>

namespace autoglm {

inline int32_t argmax_row(const float* x, int64_t c) {
  // Strictly greater: the lowest index wins ties, NaN (every comparison false) and -inf are never taken.
  int64_t best = -1;
  float best_value = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < c; ++i) {
    if (x[i] > best_value) {
      best = i;
      best_value = x[i];
    }
  }
  return static_cast<int32_t>(best < 0 ? 0 : best);
}

}  // namespace autoglm

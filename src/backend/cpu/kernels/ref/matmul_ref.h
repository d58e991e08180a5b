// Scalar reference of matmul (src/ops/matmul.h): the oracle of the kernel tests, not a production path.
#pragma once

#include "ops/matmul.h"

namespace autoglm {

// out[i, j] = sum_p x[i, p] * w[j, p] (+ bias[j]), accumulated in double and rounded once to f32. Single
// thread, no SIMD; expects the shapes and dtypes the op function checks.
void matmul_ref(const MatmulArgs& args);

}  // namespace autoglm

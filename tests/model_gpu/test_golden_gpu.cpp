// The golden HF comparisons (tests/support/golden_suite.h) on the CUDA backend, with the CPU's bounds: f32
// weights through the f32 kernels, bf16 weights through the fast path.
#include "support/golden_suite.h"

namespace autoglm {
const char* golden_backend_name() {
  return "cuda";
}
}  // namespace autoglm

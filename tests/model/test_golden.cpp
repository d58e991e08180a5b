// The golden HF comparisons (tests/support/golden_suite.h) on the CPU backend.
#include "support/golden_suite.h"

namespace autoglm {
const char* golden_backend_name() {
  return "cpu";
}
}  // namespace autoglm

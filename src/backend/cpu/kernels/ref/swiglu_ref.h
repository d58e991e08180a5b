// Plain scalar reference of swiglu for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/swiglu.h"

namespace autoglm {

void swiglu_ref(const SwigluArgs& args);

}  // namespace autoglm

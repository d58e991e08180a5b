// Plain scalar reference of softmax for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/softmax.h"

namespace autoglm {

void softmax_ref(const SoftmaxArgs& args);

}  // namespace autoglm

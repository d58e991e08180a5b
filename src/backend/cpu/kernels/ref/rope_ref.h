// Plain scalar reference of rope for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/rope.h"

namespace autoglm {

void rope_ref(const RopeArgs& args);

}  // namespace autoglm

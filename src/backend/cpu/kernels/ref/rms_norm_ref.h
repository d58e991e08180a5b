// Plain scalar reference of rms_norm for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/rms_norm.h"

namespace autoglm {

void rms_norm_ref(const RmsNormArgs& args);

}  // namespace autoglm

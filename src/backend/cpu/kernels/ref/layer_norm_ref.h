// Plain scalar reference of layer_norm for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/layer_norm.h"

namespace autoglm {

void layer_norm_ref(const LayerNormArgs& args);

}  // namespace autoglm

// Plain scalar reference of add for the kernel tests: double accumulation, no threads, no tricks.
#pragma once

#include "ops/add.h"

namespace autoglm {

void add_ref(const AddArgs& args);

}  // namespace autoglm

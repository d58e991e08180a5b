// Elementwise out = a + b (residual connections).
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct AddArgs {
  TensorView a;    // f32 (dispatch key)
  TensorView b;    // same shape and dtype as a
  TensorView out;  // same shape; may alias a or b
};

Status add(Backend& backend, const AddArgs& args);

}  // namespace autoglm

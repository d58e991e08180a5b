// Row-wise softmax over the last dim, max-subtracted, in f32.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct SoftmaxArgs {
  TensorView x;    // [..., c] f32 (dispatch key)
  TensorView out;  // same shape; may alias x
};

Status softmax(Backend& backend, const SoftmaxArgs& args);

}  // namespace autoglm

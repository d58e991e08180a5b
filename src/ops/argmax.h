// Row-wise argmax: out[r] = the index of the largest x[r, :], ties to the lowest index, NaN never chosen (as
// -inf); a row of only NaN / -inf gives 0. Exactly the greedy choice of sampling/sampler.h, so greedy
// requests can be decided where the logits are and only their ids cross to the host.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct ArgmaxArgs {
  TensorView x;    // [rows, c] f32 (dispatch key), c >= 1
  TensorView out;  // [rows] i32
};

Status argmax(Backend& backend, const ArgmaxArgs& args);

}  // namespace autoglm

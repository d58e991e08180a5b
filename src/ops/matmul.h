// out[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]): a linear layer with weights in PyTorch's [out, in] layout.
// x and out are f32; w is f32, f16 or bf16 (dispatch key); accumulation is f32. Decode (m = 1) is a
// memory-bound GEMV whose floor is bytes(w) / bandwidth; prefill is FLOP-bound, 2*m*n*k FLOPs.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct MatmulArgs {
  TensorView x;     // [m, k] f32
  TensorView w;     // [n, k]
  TensorView bias;  // [n] f32, or data == nullptr for none
  TensorView out;   // [m, n] f32; must not alias x
};

Status matmul(Backend& backend, const MatmulArgs& args);

}  // namespace autoglm

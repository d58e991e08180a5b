// Row-wise LayerNorm: out = (x - mean) / sqrt(var + eps) * weight + bias (biased variance, as PyTorch).
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct LayerNormArgs {
  TensorView x;       // [..., d] f32 (dispatch key)
  TensorView weight;  // [d] f32
  TensorView bias;    // [d] f32, or data == nullptr for none
  float eps = 1e-5f;
  TensorView out;  // same shape as x; may alias x
};

Status layer_norm(Backend& backend, const LayerNormArgs& args);

}  // namespace autoglm

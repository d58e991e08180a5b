// Row-wise RMSNorm as in HF Llama: out = x / sqrt(mean(x^2) + eps) * weight, statistics in f32.
// Rows are all dims but the last, so a [t, heads, head_dim] view normalizes each head (Qwen3 q/k norm).
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct RmsNormArgs {
  TensorView x;       // [..., d] f32 (dispatch key)
  TensorView weight;  // [d] f32
  float eps = 1e-6f;
  TensorView out;  // same shape as x; may alias x
};

Status rms_norm(Backend& backend, const RmsNormArgs& args);

}  // namespace autoglm

// Row-wise RMSNorm as in HF Llama: out = x / sqrt(mean(x^2) + eps) * weight, statistics in f32.
// Rows are all dims but the last, so a [t, heads, head_dim] view normalizes each head (Qwen3 q/k norm).
// Optionally fused with the residual add before it (RmsNormArgs::residual): one pass instead of two kernels.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct RmsNormArgs {
  TensorView x;       // [..., d] f32 (dispatch key)
  TensorView weight;  // [d] f32
  float eps = 1e-6f;
  TensorView out;  // same shape as x; may alias x (not with a residual)
  // The decoder's residual add fused in front (x + sublayer output, then the next norm): when residual is
  // given (x's shape, f32), the op normalizes x + residual and writes that sum to sum_out (x's shape; may
  // alias x), with exactly the bits of add followed by rms_norm; out is then disjoint from every input.
  TensorView residual{};
  TensorView sum_out{};
};

Status rms_norm(Backend& backend, const RmsNormArgs& args);

}  // namespace autoglm

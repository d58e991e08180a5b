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
  // Same shape as x; may alias x (f32, no residual). f32, or bf16 / f16 (rounded to nearest-even from the
  // f32 result): the input of a matmul over weights of that type, which would round it so anyway.
  TensorView out;
  // The decoder's residual add fused in front (x + sublayer output, then the next norm): when residual is
  // given (x's shape, f32), the op normalizes x + residual and writes that sum to sum_out (x's shape; may
  // alias x), with exactly the bits of add followed by rms_norm; out is then disjoint from every input.
  TensorView residual{};
  TensorView sum_out{};
};

Status rms_norm(Backend& backend, const RmsNormArgs& args);

}  // namespace autoglm

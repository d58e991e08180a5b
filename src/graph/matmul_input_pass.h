// Hands matmuls over 16-bit weights their x in that 16-bit type, written so by the RMSNorm (or the paged
// attention) before them.
//
// Why: on the GPU every matmul over bf16 / f16 weights computes on x rounded to the weight type (tensor
// cores take equal input types), so an f32 x costs a conversion kernel (cuBLASLt) or is read at twice the
// bytes and rounded in registers (the skinny decode GEMM, whose x reads compete with the weight stream: at 16
// rows a [6144 x 4096] projection ran at 0.63 of the copy bandwidth on f32 x and 0.79 on bf16 x, H100). The
// norm rounds instead, once, to nearest-even: the matmuls see the same operand bits as before.
// Rewrite (attention): a paged_attention node over bf16 caches (head_dim a multiple of 16, <= 256) whose
// output and its views are read only as x of bf16 matmuls has its output and views retyped to bf16.
// Rewrite: an rms_norm node whose normalized output (its value, or with the fused residual add the view of
// its second row, and any views on those) is read only as x of matmuls whose weights are all bf16 or all f16
// gets NormAttrs::out_dtype = that type; its value or views are retyped in place (view offsets keep their
// byte positions). Outputs read by anything else, or that are graph outputs, stay f32. A paged attention
// over bf16 caches whose rows only the o projection reads writes them in bf16 likewise (the same bits the
// conversion before that GEMM made).
// Where: backends whose matmuls round x to 16-bit weights anyway (CUDA); on the CPU the f32 x is kept.
#pragma once

#include "graph/pass.h"

namespace autoglm {

class SixteenBitMatmulInputs final : public GraphPass {
 public:
  std::string name() const override { return "16-bit-matmul-inputs"; }
  Status run(Graph& graph) override;
};

}  // namespace autoglm

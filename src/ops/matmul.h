// out[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]): a linear layer with weights in PyTorch's [out, in] layout.
// out is f32, or of w's 16-bit type without bias (the f32 result rounded to nearest-even: the gate/up output
// the CUDA graph hands the down projection, graph/gate_up_output_pass.h); w is f32, f16, bf16 or a
// block-quantized type (dispatch key); x is f32, or of w's type when that is f16 or bf16 (the 16-bit
// activations the CUDA graph passes in: graph/matmul_input_pass.h); accumulation is f32. Decode (m = 1) is a
// memory-bound GEMV whose floor is bytes(w) / bandwidth; prefill is FLOP-bound, 2*m*n*k FLOPs.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct MatmulArgs {
  TensorView x;     // [m, k] f32, or w's type for f16 / bf16 w
  TensorView w;     // [n, k]
  TensorView bias;  // [n] f32, or data == nullptr for none
  TensorView out;   // [m, n] f32, or w's 16-bit type with no bias; must not alias x
  // Each output row must not depend on m (how many rows share the call), for the m a backend can serve so
  // (CUDA, 16-bit weights: m <= 16, one tensor-core kernel even at m = 1, ~10% slower there than its GEMV).
  // The CPU kernels are batch-invariant anyway.
  bool batch_invariant = false;
  // [m, n] f32, or data == nullptr for none: out = addend + (x . w^T + bias), the sum rounded once, the same
  // bits as the add op after the matmul. A layer's residual add folded into its o / down projection, so the
  // projection's output is not written and read back before the add (the GPU's GEMM reads it in its
  // epilogue: cuBLASLt's C with beta = 1). out f32; addend must not overlap out.
  TensorView addend{};
};

Status matmul(Backend& backend, const MatmulArgs& args);

// out = matmul(swiglu(x), w) (+ bias) where x = [gate | up] is [m, 2k] (ops/swiglu.h): the MLP's down
// projection with its activation formed while x is read, so the [m, k] activation never goes through
// memory in f32 (a GPU prefill of 2,048 tokens writes and re-reads 117 MB per layer otherwise). Backends
// without a fused kernel run swiglu into a temporary and then matmul, with identical results.
struct MatmulSwigluArgs {
  TensorView x;                  // [m, 2k] f32, or w's 16-bit type (silu and the product still in f32)
  TensorView w;                  // [n, k] (dispatch key)
  TensorView bias;               // [n] f32, or data == nullptr for none
  TensorView out;                // [m, n] f32; must not alias x
  bool batch_invariant = false;  // as MatmulArgs::batch_invariant
  TensorView addend{};           // as MatmulArgs::addend
};

Status matmul_swiglu(Backend& backend, const MatmulSwigluArgs& args);

}  // namespace autoglm

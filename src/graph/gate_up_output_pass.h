// Hands the MLP's gate/up projection its output in the weights' 16-bit type when the fused down projection
// (matmul_swiglu) is its only reader.
//
// Why: the gate/up GEMM is the widest of a layer ([m, 2 x ffn]); in f32 its output is written and then read
// back by the SwiGLU conversion before the down projection, 8 bytes per element in all. In bf16 that traffic
// halves (215 MB per layer for a 1,876-token Llama-3-8B step, ~64 us at the H100's bandwidth) and cuBLASLt's
// bf16 epilogue is 5-10% faster than its f32 one (tools/bench/gemm_algos_cuda.cpp). It is also what a 16-bit
// model computes in its reference (HF transformers: gate_proj and up_proj outputs in bf16): the activation is
// formed from the rounded gate and up.
// Rewrite: a matmul without bias whose weights are bf16 or f16, whose output value (not a view, not a graph
// output) is read only as x of matmul_swiglu nodes with weights of the same type, gets that value retyped.
// Where: backends whose matmul writes 16-bit outputs natively (CUDA); the CPU keeps f32.
#pragma once

#include "graph/pass.h"

namespace autoglm {

class SixteenBitGateUpOutput final : public GraphPass {
 public:
  std::string name() const override { return "16-bit-gate-up-output"; }
  Status run(Graph& graph) override;
};

}  // namespace autoglm

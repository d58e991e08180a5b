// The Hopper GEMM of our own (gemm_wgmma.cu): out[m, n] = x[m, k] . w[n, k]^T over bf16 x and w, f32
// accumulation, with the epilogue as part of the kernel. Private to kernels/.
//
// Why our own beside cuBLASLt: cuBLASLt's epilogues cannot combine two output columns, so the MLP's
//   silu(gate) * up is a pass of its own over the [m, 2 f] gate/up product (0.79 s of a mixed serving run's
//   32.9 s of GPU time on the Llama-3-8B shape; under the power limit its joules are the GEMMs' clock). Here
//   the gate/up GEMM writes silu(gate) * up straight from its accumulators.
// Not on the model's path yet: on the H100 it runs the Llama-3-8B projections at 0.8-0.98x cuBLASLt's rate
//   from 1,024 rows on (0.94-0.97x for the four held at the power limit), less below where few units fill
//   the device, and the fused MLP at 0.92-1.01x cuBLASLt plus the conversion at the limit
//   (docs/BENCHMARKS.md): it has to beat that before the matmul op takes it.
//
// kSwiglu expects w's rows interleaved by 8: rows 16 i .. 16 i + 7 are gate rows 8 i .. 8 i + 7 and rows
//   16 i + 8 .. 16 i + 15 the matching up rows (source_row_of_interleaved), so each thread holds a gate and
//   its up in the same accumulator fragment; out is then [m, n / 2] bf16, silu(g) = g / (1 + expf(-g)) on the
//   f32 accumulators.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda_kernels {

enum class GemmEpilogue {
  kF32,     // out f32 [m, ldo] (= addend + product where an addend is given)
  kBf16,    // out bf16 [m, ldo]
  kSwiglu,  // out bf16 [m, ldo]: silu(gate) * up of the interleaved rows, n / 2 columns
};

struct GemmWgmmaArgs {
  const __nv_bfloat16* x = nullptr;  // [m, k], rows k apart
  const __nv_bfloat16* w = nullptr;  // [n, k], rows k apart
  void* out = nullptr;
  const float* addend = nullptr;  // kF32 only: [m, ldo], may be out itself
  int64_t m = 0, n = 0, k = 0;
  int64_t ldo = 0;  // out's row stride in elements, at least its columns (n, or n / 2 for kSwiglu)
  GemmEpilogue epilogue = GemmEpilogue::kF32;
};

// Whether the kernel takes these operands on `device`: an sm_90 device with the sm_90a code built in, k a
// multiple of 64, n of 256, 16-byte aligned rows (and out, for kSwiglu), ldo at least out's columns.
bool gemm_wgmma_supported(int device, const GemmWgmmaArgs& args);

// Queues the GEMM on `stream`; the caller checked gemm_wgmma_supported. Tokens go in tiles of 128, 192 or
// 256 rows, whichever pads m least.
cudaError_t launch_gemm_wgmma(const GemmWgmmaArgs& args, cudaStream_t stream);

// The row order kSwiglu expects, from w = [gate (f rows) | up (f rows)] ([2 f, k], f a multiple of 8): row r
// of the result is row source_row_of_interleaved(r, f) of w.
int64_t source_row_of_interleaved(int64_t r, int64_t f);

}  // namespace autoglm::cuda_kernels

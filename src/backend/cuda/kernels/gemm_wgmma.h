// The Hopper GEMM of our own (gemm_wgmma.cu): out[m, n] = x[m, k] . w[n, k]^T over bf16 x and w, f32
// accumulation, with the epilogue as part of the kernel. Private to kernels/.
//
// Why our own beside cuBLASLt: cuBLASLt's epilogues cannot combine two output columns, so the MLP's
//   silu(gate) * up is a pass of its own over the [m, 2 f] gate/up product (0.79 s of a mixed serving run's
//   32.9 s of GPU time on the Llama-3-8B shape; under the power limit its joules are the GEMMs' clock). Here
//   the gate/up GEMM writes silu(gate) * up straight from its accumulators.
// Not on the model's path yet: on the H100 it runs the Llama-3-8B projections at 0.8-1.0x cuBLASLt's rate
//   from 1,024 rows on (0.95-0.96x for the four held at the power limit), less below where few units fill
//   the device, and the fused MLP at 0.89 / 0.96 / 0.96-0.99x cuBLASLt plus the conversion at the limit at
//   333 / 512 / 768 rows, 0.98-1.01x at 1,024-2,048 (docs/BENCHMARKS.md): it has to beat that before the
//   matmul op takes it.
//
// kSwiglu takes w = [gate (f rows) | up (f rows)] ([2 f, k], f = n / 2) as the model stores it and writes
//   out = silu(x . gate^T) * (x . up^T), [m, f] bf16, silu(g) = g / (1 + expf(-g)) on the f32 accumulators.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda_kernels {

enum class GemmEpilogue {
  kF32,     // out f32 [m, ldo] (= addend + product where an addend is given)
  kBf16,    // out bf16 [m, ldo]
  kSwiglu,  // out bf16 [m, ldo]: silu(gate) * up, n / 2 columns (w = [gate | up])
};

struct GemmWgmmaArgs {
  const __nv_bfloat16* x = nullptr;  // [m, k], rows k apart
  const __nv_bfloat16* w = nullptr;  // [n, k], rows k apart
  void* out = nullptr;
  const float* addend = nullptr;  // kF32 only: [m, ldo], may be out itself
  int64_t m = 0, n = 0, k = 0;
  int64_t ldo = 0;  // out's row stride in elements, at least its columns (n, or n / 2 for kSwiglu)
  GemmEpilogue epilogue = GemmEpilogue::kF32;
  // The tiling, for tests and benchmarks to pin: 0 lets the launch choose. Neither changes a result's bits.
  int token_tile = 0;   // 128, 192 or 256 tokens per unit (gemm_wgmma_token_tile)
  int group_pairs = 0;  // weight-tile pairs (256 rows each) per raster group
  // Whether a last round that would leave over half the clusters idle runs as halves of its token tiles.
  bool split_last_round = true;
};

// Whether the kernel takes these operands on `device`: an sm_90 device with the sm_90a code built in, k a
// multiple of 64, n of 256, 16-byte aligned rows (and out, for kSwiglu), ldo at least out's columns, a
// token_tile of 0, 128, 192 or 256 and group_pairs >= 0.
bool gemm_wgmma_supported(int device, const GemmWgmmaArgs& args);

// Queues the GEMM on `stream`; the caller checked gemm_wgmma_supported.
cudaError_t launch_gemm_wgmma(const GemmWgmmaArgs& args, cudaStream_t stream);

// The token tile the launch takes for m tokens against n weight rows on a device holding `clusters` clusters
// at once: of 128, 192 and 256, the one whose rounds of units (a unit, one token tile against 256 weight
// rows, holds a cluster; the call lasts ceil(units / clusters) rounds, the last one in halves of the tile
// where `split` and it fills at most half the clusters) times its cost per row is lowest.
int gemm_wgmma_token_tile(int64_t m, int64_t n, int clusters, bool split = true);

}  // namespace autoglm::cuda_kernels

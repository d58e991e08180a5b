// The tensor-core path of the CUDA matmul for the small m of batched decode (matmul_skinny.cu):
// out[m, n] = x[m, k] . w[n, k]^T (+ bias) for 16-bit w and m <= kSkinnyMaxRows, w streamed once for all m
// rows. Private to kernels/.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "tensor/dtype.h"

namespace autoglm {

// x rows handled in one pass over w. Beyond 16 rows the x fragments, re-read from L1/L2 by every 16-row
// block, cost more than the w stream and cuBLASLt's tiles are faster (0.8-0.9 of the copy bandwidth at
// m = 32-64 against this kernel's 0.2-0.6: tools/bench/matmul_cuda.cpp on the H100).
constexpr int64_t kSkinnyMaxRows = 16;

// True when launch_skinny takes these operands: w f16 or bf16, 1 <= m <= kSkinnyMaxRows, k a multiple of 8,
// w and x 16-byte aligned (x f32 or of w's type).
bool skinny_supports(DType w_dtype, const void* x, const void* w, int64_t m, int64_t k);

// Queues the product on backend.stream(). x is f32 (x_is_f32) or already of w's type; f32 x is rounded to
// w's type to nearest-even as it is read, so both forms of the same x give the same bits. out and bias f32
// (bias may be null). Each out element depends only on its own x row, w row, n and k (never on m): a
// sequence gets the same result whatever batch it decodes in. Requires skinny_supports(...).
// addend: [m, n] f32 added after the bias (MatmulArgs::addend), or nullptr.
void launch_skinny(CudaBackend& backend, DType w_dtype, const void* x, bool x_is_f32, const void* w,
                   const float* bias, float* out, int64_t m, int64_t n, int64_t k,
                   const float* addend = nullptr);

}  // namespace autoglm

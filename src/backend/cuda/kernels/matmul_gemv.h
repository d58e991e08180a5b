// The small-m path of the CUDA matmul (matmul_gemv.cu): out[m, n] = x[m, k] . w[n, k]^T (+ bias) for
// m <= kGemvMaxRows, every w element read once and used for all m rows of x. Private to kernels/.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "tensor/dtype.h"

namespace autoglm {

// x rows handled in one pass over w.
constexpr int64_t kGemvMaxRows = 8;

// Queues the GEMV on backend.stream(); 1 <= m <= kGemvMaxRows, n >= 1, k >= 0. x, out and bias f32 (bias may
// be null); w of w_dtype (kF32, kF16 or kBF16), row-major [n, k]. Any alignment and any k: 16-byte loads
// where w and x allow them, element loads otherwise.
// addend: [m, n] f32 added after the bias (MatmulArgs::addend), or nullptr.
void launch_gemv(CudaBackend& backend, DType w_dtype, const float* x, const void* w, const float* bias,
                 float* out, int64_t m, int64_t n, int64_t k, const float* addend = nullptr);

// The same for one row of x of w's type (w_dtype kF16 or kBF16): single-sequence decode on the 16-bit
// activations the CUDA graph passes to its matmuls (graph/matmul_input_pass.h).
void launch_gemv_16bit_x(CudaBackend& backend, DType w_dtype, const void* x, const void* w, const float* bias,
                         float* out, int64_t n, int64_t k, const float* addend = nullptr);

}  // namespace autoglm

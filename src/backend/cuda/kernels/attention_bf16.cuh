// Private to the bf16-cache attention (attention_bf16.cu, attention_bf16_prefill.cu): the block shape, and
// the contiguous attention's geometry and helpers (attention_contiguous.cuh) over bf16 caches.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_contiguous.cuh"

namespace autoglm::attention_bf16 {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

using Geometry = cuda_attention::ContiguousGeometry<bf16>;
using cuda_attention::finish_score;
using cuda_attention::first_key;
using cuda_attention::query_pos0;

// The tensor-core prefill (attention_bf16_prefill.cu). Needs head_dim a multiple of 16 in [16, 256] and
// 16-byte aligned caches; g.t > 0.
void launch_prefill(CudaBackend& backend, const Geometry& g);

}  // namespace autoglm::attention_bf16

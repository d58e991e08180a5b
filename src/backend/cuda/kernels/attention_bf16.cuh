// Private to the bf16-cache attention (attention_bf16.cu, attention_bf16_prefill.cu): the arguments every
// kernel takes by value, the block shape, and the score and mask helpers both files share.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_common.cuh"

namespace autoglm::attention_bf16 {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

// Everything the kernels need, by value.
struct Geometry {
  const float* q;
  const bf16* k;
  const bf16* v;
  float* out;
  int64_t t, q_heads, kv_heads, group, head_dim;
  int64_t q_pos0, window;
  float scale, softcap;
  const int32_t* positions;  // [t] on the device, or nullptr: q_pos0 (decode and generic kernels; the
                             // tensor-core prefill always takes q_pos0)
  int64_t split_keys;        // decode: > 0, keys per split from 0 (device positions); 0: even splits of the
                             // visible range
};

// scale * dot, soft-capped as the op states.
__device__ __forceinline__ float finish_score(float dot, const Geometry& g) {
  return cuda_attention::capped_score(dot, g.scale, g.softcap);
}

using cuda_attention::first_key;

// Position of query row 0: from the device when positions are given (replayable launches).
__device__ __forceinline__ int64_t query_pos0(const Geometry& g) {
  return g.positions != nullptr ? int64_t{g.positions[0]} : g.q_pos0;
}

// The tensor-core prefill (attention_bf16_prefill.cu). Needs head_dim a multiple of 16 in [16, 256] and
// 16-byte aligned caches; g.t > 0.
void launch_prefill(CudaBackend& backend, const Geometry& g);

}  // namespace autoglm::attention_bf16

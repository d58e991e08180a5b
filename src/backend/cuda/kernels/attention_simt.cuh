// The f32 SIMT pieces the contiguous (attention.cu, attention_bf16.cu) and paged (paged_attention.cu)
// attention kernels share: cache elements widened to f32, the one-row-per-block kernel body that answers
// any shape, and a warp's query rows in the tiled f32 prefill. Each caller keeps
// what differs between the caches: where key j's row is, and which keys a row sees.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels/attention_common.cuh"

namespace autoglm::cuda_attention {

__device__ __forceinline__ float widen(float x) {
  return x;
}
__device__ __forceinline__ float widen(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
__device__ __forceinline__ float widen(__half x) {
  return __half2float(x);
}
__device__ __forceinline__ float widen(__nv_fp8_e4m3 x) {
  return static_cast<float>(x);  // exact
}

// One query row of one head by a whole block of kWarps warps: threads own dims, the output row o doubles as
// the accumulator, keys go one at a time (block-wide dot product). Keys j in [lo, hi] sit at cache row
// key_row(j) (< 0: absent, skipped; the value must be uniform across the block); `kv_offset` is the KV
// head's first element in a row of `kv_stride`. A row without keys ends as 0 / 0 = NaN. Slow: for the shapes
// no fast kernel takes, so that every valid call is answered.
template <int kWarps, typename T, typename KeyRow>
__device__ __forceinline__ void attend_row_by_block(const float* q, float* o, const T* k, const T* v,
                                                    int64_t kv_stride, int64_t kv_offset, int64_t head_dim,
                                                    int64_t lo, int64_t hi, float scale, float softcap,
                                                    KeyRow key_row) {
  constexpr int kThreads = 32 * kWarps;
  __shared__ float partial[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t D = head_dim;
  for (int64_t d = threadIdx.x; d < D; d += kThreads)
    o[d] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = lo; j <= hi; ++j) {
    const int64_t r = key_row(j);
    if (r < 0) continue;
    const T* kr = k + r * kv_stride + kv_offset;
    float dot = 0.0f;
    for (int64_t d = threadIdx.x; d < D; d += kThreads)
      dot = fmaf(q[d], widen(kr[d]), dot);
    dot = warp_sum(dot);
    __syncthreads();  // the previous key's partial sums are read
    if (lane == 0) partial[warp] = dot;
    __syncthreads();
    dot = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      dot += partial[w];
    const float score = capped_score(dot, scale, softcap), m_new = fmaxf(m, score);
    const float alpha = expf(m - m_new), p = expf(score - m_new);
    l = l * alpha + p;
    const T* vr = v + r * kv_stride + kv_offset;
    for (int64_t d = threadIdx.x; d < D; d += kThreads)
      o[d] = o[d] * alpha + p * widen(vr[d]);
    m = m_new;
  }
  for (int64_t d = threadIdx.x; d < D; d += kThreads)
    o[d] /= l;
}

// The tiled f32 prefill's block (attention.cu, paged_attention.cu): kPrefillWarps warps of
// kPrefillRowsPerWarp query rows each, key tiles of kPrefillKeys keys (one per lane) staged in shared memory.
constexpr int kPrefillWarps = 4;
constexpr int kPrefillRowsPerWarp = 4;
constexpr int kPrefillRows = kPrefillWarps * kPrefillRowsPerWarp;
constexpr int kPrefillKeys = 32;

// Floats of a shared K / Q row: head_dim rounded up to 4 (16-byte reads), plus 4 so that the rows of 8 lanes
// reading 16 bytes each start in distinct bank quadruples.
__host__ __device__ constexpr int64_t padded_dim(int64_t head_dim) {
  return (head_dim + 3) / 4 * 4 + 4;
}

// A prefill block's shared memory: Q [kPrefillRows][padded], K [kPrefillKeys][padded], V [kPrefillKeys][32
// S].
__host__ __device__ constexpr size_t prefill_smem_bytes(int64_t head_dim, int S) {
  return sizeof(float) *
         static_cast<size_t>((kPrefillRows + kPrefillKeys) * padded_dim(head_dim) + kPrefillKeys * 32 * S);
}

// A warp's kRows query rows in the tiled f32 prefill kernels: key tiles of up to 32 keys are staged in
// shared memory, lane j scores key j of the tile against every row, and each row keeps an online softmax
// (max by warp shuffles, the sum kept per lane, reduced at the end); P.V broadcasts each probability with a
// shuffle while lane `lane` owns output dims lane + 32 s, s < S.
template <int kRows, int S>
struct PrefillWarpRows {
  float m[kRows], l[kRows], acc[kRows][S];

  __device__ __forceinline__ void reset() {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      m[r] = -INFINITY;
      l[r] = 0.0f;
#pragma unroll
      for (int s = 0; s < S; ++s)
        acc[r][s] = 0.0f;
    }
  }

  // dot[r] = q row r . this lane's key row, both `padded` floats apart in shared memory, the last 4 of each
  // row padding (16-byte reads).
  __device__ __forceinline__ static void dots(const float* q_rows, const float* k_row, int64_t padded,
                                              float (&dot)[kRows]) {
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      dot[r] = 0.0f;
    const float4* k4 = reinterpret_cast<const float4*>(k_row);
    for (int64_t d4 = 0; d4 < padded / 4 - 1; ++d4) {
      const float4 kv = k4[d4];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float4 qv = reinterpret_cast<const float4*>(q_rows + r * padded)[d4];
        dot[r] = fmaf(qv.x, kv.x, dot[r]);
        dot[r] = fmaf(qv.y, kv.y, dot[r]);
        dot[r] = fmaf(qv.z, kv.z, dot[r]);
        dot[r] = fmaf(qv.w, kv.w, dot[r]);
      }
    }
  }

  // Adds one tile: score[r] is this lane's key's score for row r (-inf where the row does not see it);
  // v_tile holds the tile's n_tile value rows of 32 S floats.
  __device__ __forceinline__ void add_tile(const float (&score)[kRows], const float* v_tile, int n_tile,
                                           int lane) {
    float p[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float m_new = fmaxf(m[r], warp_max(score[r]));
      if (m_new == -INFINITY) {  // no visible key so far (uniform across the warp)
        p[r] = 0.0f;
        continue;
      }
      const float alpha = expf(m[r] - m_new);
      p[r] = expf(score[r] - m_new);
      l[r] = l[r] * alpha + p[r];
#pragma unroll
      for (int s = 0; s < S; ++s)
        acc[r][s] *= alpha;
      m[r] = m_new;
    }
    for (int jj = 0; jj < n_tile; ++jj) {
      float vv[S];
#pragma unroll
      for (int s = 0; s < S; ++s)
        vv[s] = v_tile[jj * 32 * S + lane + 32 * s];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float pj = __shfl_sync(0xffffffffu, p[r], jj);
#pragma unroll
        for (int s = 0; s < S; ++s)
          acc[r][s] = fmaf(pj, vv[s], acc[r][s]);
      }
    }
  }

  // Row r's result into o[0, head_dim) (0 / 0 = NaN for a row without keys). Every lane of the warp calls it.
  __device__ __forceinline__ void store(int r, float* o, int64_t head_dim, int lane) const {
    const float sum = warp_sum(l[r]);
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int64_t d = lane + 32 * s;
      if (d < head_dim) o[d] = acc[r][s] / sum;
    }
  }
};

}  // namespace autoglm::cuda_attention

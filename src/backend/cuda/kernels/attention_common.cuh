// Helpers shared by the CUDA attention kernels (attention.cu, attention_bf16.cu, paged_attention.cu): warp
// reductions, the score cap and mask edge of ops/attention.h, the merge of split-K partials, the split-K
// plan of a decode launch, and the host switches that turn head_dim and the GQA group into constants.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"

namespace autoglm::cuda_attention {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// scale * dot, soft-capped as the op states: softcap * tanh(s / softcap).
__device__ __forceinline__ float capped_score(float dot, float scale, float softcap) {
  float s = scale * dot;
  if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
  return s;
}

// First key visible to position pos (HF sliding-window semantics; window 0: all).
__device__ __forceinline__ int64_t first_key(int64_t pos, int64_t window) {
  return window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
}

// Writes result i: to out (f32), or rounded to nearest-even into out16 when the caller asked for bf16 rows
// (ops/paged_attention.h; then out is unused).
__device__ __forceinline__ void store_result(float* out, __nv_bfloat16* out16, int64_t i, float value) {
  if (out16 != nullptr) {
    out16[i] = __float2bfloat16_rn(value);
  } else {
    out[i] = value;
  }
}

// One head of the split-K merge, run by a whole block: out = sum_c exp(max_c - max) part_c /
// sum_c exp(max_c - max) sum_c over the splits that hold keys. part_out [heads, splits, head_dim], part_stats
// [heads, splits, 2] (max, sum); a split without keys has sum 0 and is skipped.
__device__ __forceinline__ void merge_splits(const float* __restrict__ part_out,
                                             const float* __restrict__ part_stats, float* __restrict__ out,
                                             int splits, int64_t head_dim, int64_t head,
                                             __nv_bfloat16* out16 = nullptr) {
  const float* stats = part_stats + head * splits * 2;
  float M = -INFINITY;
  for (int c = 0; c < splits; ++c) {
    if (stats[2 * c + 1] > 0.0f) M = fmaxf(M, stats[2 * c]);
  }
  float total = 0.0f;
  for (int c = 0; c < splits; ++c) {
    if (stats[2 * c + 1] > 0.0f) total += expf(stats[2 * c] - M) * stats[2 * c + 1];
  }
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int c = 0; c < splits; ++c) {
      if (stats[2 * c + 1] > 0.0f)
        value += expf(stats[2 * c] - M) * part_out[(head * splits + c) * head_dim + d];
    }
    store_result(out, out16, head * head_dim + d, value / total);
  }
}

// One batch of NB keys into the online softmax of GT heads (the decode kernels' inner step): score[b][h]
// (-inf for a key not seen), v[b] this lane's NE output dims of key b. Per head the running max m, sum l and
// output acc are rescaled to the new max and the batch is added; a head that has seen no key stays as it is.
template <int GT, int NB, int NE>
__device__ __forceinline__ void online_softmax_step(const float (&score)[NB][GT], const float (&v)[NB][NE],
                                                    float (&m)[GT], float (&l)[GT], float (&acc)[GT][NE]) {
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    float batch_max = -INFINITY;
#pragma unroll
    for (int b = 0; b < NB; ++b)
      batch_max = fmaxf(batch_max, score[b][h]);
    const float m_new = fmaxf(m[h], batch_max);
    if (m_new == -INFINITY) continue;
    const float alpha = expf(m[h] - m_new);
    l[h] *= alpha;
#pragma unroll
    for (int e = 0; e < NE; ++e)
      acc[h][e] *= alpha;
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      const float p = expf(score[b][h] - m_new);
      l[h] += p;
#pragma unroll
      for (int e = 0; e < NE; ++e)
        acc[h][e] = fmaf(p, v[b][e], acc[h][e]);
    }
    m[h] = m_new;
  }
}

// The end of a split-K decode block (the paged decode kernels): merges its kStates online-softmax states of
// each of its heads (max m, sum l, output slots acc[.][h][0, head_dim) of kDims), then writes head h's result
// to out (one split: value / sum, NaN for a row without keys) or its split partial (value, and (max, sum))
// for the merge kernel (out16: the rows in bf16, store_result). The states are in shared memory, written and
// synchronized by the caller; every thread of the block calls it. heads: the block's valid heads (<= GT),
// global head index head0 + h.
template <int kStates, int GT, int kDims>
__device__ __forceinline__ void store_merged_states(const float (&acc)[kStates][GT][kDims],
                                                    const float (&m)[kStates][GT],
                                                    const float (&l)[kStates][GT], int heads,
                                                    int64_t head_dim, int64_t head0, int splits, int split,
                                                    float* out, float* part_out, float* part_stats,
                                                    __nv_bfloat16* out16 = nullptr) {
  for (int idx = static_cast<int>(threadIdx.x); idx < GT * kDims; idx += static_cast<int>(blockDim.x)) {
    const int h = idx / kDims, d = idx % kDims;
    if (h >= heads || d >= head_dim) continue;
    float M = -INFINITY;
#pragma unroll
    for (int s = 0; s < kStates; ++s)
      M = fmaxf(M, m[s][h]);
    float sum = 0.0f, value = 0.0f;
    if (M != -INFINITY) {  // else this split holds no key of the row
#pragma unroll
      for (int s = 0; s < kStates; ++s) {
        const float weight = expf(m[s][h] - M);
        sum += weight * l[s][h];
        value += weight * acc[s][h][d];
      }
    }
    const int64_t head = head0 + h;
    if (splits == 1) {
      store_result(out, out16, head * head_dim + d, value / sum);  // 0 / 0 = NaN for a row without keys
    } else {
      const int64_t slot = head * splits + split;
      part_out[slot * head_dim + d] = value;
      if (d == 0) {
        part_stats[2 * slot] = M;
        part_stats[2 * slot + 1] = sum;
      }
    }
  }
}

// Query rows up to which a call (a sequence, for the paged kernels) is a decode, split-K over the keys; more
// take the prefill kernels.
constexpr int64_t kDecodeMaxRows = 4;
constexpr int64_t kMinKeysPerSplit = 64;
constexpr int64_t kMaxSplits = 256;

// How a decode launch splits its keys, and where the splits' partials go (unused with one split).
struct DecodeSplits {
  int64_t splits = 1;
  float* part_out = nullptr;    // [slots, splits, head_dim]
  float* part_stats = nullptr;  // [slots, splits, 2]: (max, sum)
};

// Enough splits that `blocks` blocks per split cover the SMs twice, each split at least kMinKeysPerSplit of
// `max_keys`, at most kMaxSplits; partials for `slots` (query rows x query heads) in backend scratch. Without
// scratch, one split: slower, not wrong.
inline DecodeSplits plan_decode_splits(CudaBackend& backend, int64_t blocks, int64_t max_keys, int64_t slots,
                                       int64_t head_dim) {
  const int64_t sms = std::max(1, backend.properties().multiProcessorCount);
  const int64_t wanted = (2 * sms + blocks - 1) / blocks;
  DecodeSplits plan;
  plan.splits = std::clamp<int64_t>(std::min(wanted, max_keys / kMinKeysPerSplit), 1, kMaxSplits);
  if (plan.splits == 1) return plan;
  const int64_t parts = slots * plan.splits;
  plan.part_out =
      static_cast<float*>(backend.scratch(static_cast<size_t>(parts * (head_dim + 2)) * sizeof(float)));
  if (plan.part_out == nullptr) {
    plan.splits = 1;
  } else {
    plan.part_stats = plan.part_out + parts * head_dim;
  }
  return plan;
}

// Query heads of one KV head that a decode block handles together: the GQA group rounded down to 1, 2, 4 or
// 8 (a larger group is tiled over several blocks), so each K / V row is read once per tile.
inline int64_t head_tile_size(int64_t group) {
  return group >= 8 ? 8 : group >= 4 ? 4 : group >= 2 ? 2 : 1;
}

// Decode blocks per KV head: ceil(group / head_tile_size(group)).
inline int64_t head_tiles(int64_t group) {
  const int64_t gt = head_tile_size(group);
  return (group + gt - 1) / gt;
}

// Calls fn.template operator()<GT>() with GT = head_tile_size(group) as a constant.
template <typename Fn>
void with_head_tile(int64_t group, Fn&& fn) {
  switch (head_tile_size(group)) {
    case 1:
      fn.template operator()<1>();
      break;
    case 2:
      fn.template operator()<2>();
      break;
    case 4:
      fn.template operator()<4>();
      break;
    default:
      fn.template operator()<8>();
      break;
  }
}

// Calls fn.template operator()<S>() with S = ceil(head_dim / 32) as a constant, 1 <= S <= 8 (head_dim > 256
// takes S = 8; callers route those elsewhere).
template <typename Fn>
void with_lane_dims(int64_t head_dim, Fn&& fn) {
  switch ((head_dim + 31) / 32) {
    case 0:
    case 1:
      fn.template operator()<1>();
      break;
    case 2:
      fn.template operator()<2>();
      break;
    case 3:
      fn.template operator()<3>();
      break;
    case 4:
      fn.template operator()<4>();
      break;
    case 5:
      fn.template operator()<5>();
      break;
    case 6:
      fn.template operator()<6>();
      break;
    case 7:
      fn.template operator()<7>();
      break;
    default:
      fn.template operator()<8>();
      break;
  }
}

}  // namespace autoglm::cuda_attention

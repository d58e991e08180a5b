// The attention over a contiguous KV cache (ops/attention.h), shared by its f32-cache (attention.cu) and
// bf16-cache (attention_bf16.cu, attention_bf16_prefill.cu) kernels: the arguments every kernel takes by
// value, which keys a decode split reads, the split-K plan of a decode launch, and the kernel that answers
// any shape.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_simt.cuh"
#include "ops/attention.h"

namespace autoglm::cuda_attention {

// Everything the kernels need, by value. T: the cache's element type.
template <typename T>
struct ContiguousGeometry {
  const float* q;
  const T* k;
  const T* v;
  float* out;
  int64_t t, q_heads, kv_heads, group, head_dim;
  int64_t q_pos0, window;
  float scale, softcap;
  const int32_t* positions;  // [t] on the device, or nullptr: q_pos0 (decode and generic kernels; the
                             // tensor-core prefill always takes q_pos0)
  int64_t split_keys;        // decode: > 0, keys per split from 0 (device positions); 0: even splits of the
                             // visible range
};

// The geometry of a call (t, q_heads or head_dim 0: nothing to compute).
template <typename T>
ContiguousGeometry<T> contiguous_geometry(const AttentionArgs& a) {
  ContiguousGeometry<T> g{};
  g.q = a.q.as<const float>();
  g.k = a.k_cache.as<const T>();
  g.v = a.v_cache.as<const T>();
  g.out = a.out.as<float>();
  g.t = a.q.shape[0];
  g.q_heads = a.q.shape[1];
  g.head_dim = a.q.shape[2];
  g.kv_heads = a.k_cache.shape[1];
  g.group = g.kv_heads > 0 ? g.q_heads / g.kv_heads : 0;
  g.q_pos0 = a.q_pos0;
  g.window = a.window;
  g.scale = a.scale;
  g.softcap = a.softcap;
  g.positions = a.positions.data != nullptr ? a.positions.as<const int32_t>() : nullptr;
  return g;
}

// scale * dot, soft-capped as the op states.
template <typename T>
__device__ __forceinline__ float finish_score(float dot, const ContiguousGeometry<T>& g) {
  return capped_score(dot, g.scale, g.softcap);
}

// Position of query row 0: from the device when positions are given (replayable launches).
template <typename T>
__device__ __forceinline__ int64_t query_pos0(const ContiguousGeometry<T>& g) {
  return g.positions != nullptr ? int64_t{g.positions[0]} : g.q_pos0;
}

// Keys [begin, end) of split `split` for the query at pos; may be empty with fixed-size splits.
template <typename T>
__device__ __forceinline__ void split_range(const ContiguousGeometry<T>& g, int64_t pos, int split,
                                            int splits, int64_t* begin, int64_t* end) {
  const int64_t lo = first_key(pos, g.window), hi = pos + 1;
  if (g.split_keys > 0) {
    *begin = max(lo, split * g.split_keys);
    *end = min(hi, (split + 1) * g.split_keys);
  } else {
    const int64_t n_keys = hi - lo;
    *begin = lo + n_keys * split / splits;
    *end = lo + n_keys * (split + 1) / splits;
  }
}

// The split-K plan of a decode call over a cache of `capacity` rows (plan_decode_splits). With positions on
// the device nothing here may depend on q_pos0 (a replay keeps grid and scratch): the splits then cut the
// whole capacity into g->split_keys keys each.
template <typename T>
DecodeSplits plan_contiguous_splits(CudaBackend& backend, ContiguousGeometry<T>* g, int64_t capacity) {
  const int64_t last_pos = g->q_pos0 + g->t - 1;
  const int64_t max_keys =
      g->positions != nullptr
          ? capacity
          : last_pos + 1 - (g->window > 0 ? std::max<int64_t>(0, last_pos - g->window + 1) : 0);
  const DecodeSplits plan = plan_decode_splits(backend, g->kv_heads * head_tiles(g->group) * g->t, max_keys,
                                               g->t * g->q_heads, g->head_dim);
  if (g->positions != nullptr) g->split_keys = (capacity + plan.splits - 1) / plan.splits;
  return plan;
}

// One block of kWarps warps per (query row, head): attend_row_by_block over the row's visible keys.
template <int kWarps, typename T>
__global__ void __launch_bounds__(32 * kWarps) attention_generic_kernel(ContiguousGeometry<T> g) {
  const int64_t row = blockIdx.x / g.q_heads, head = blockIdx.x % g.q_heads;
  const int64_t D = g.head_dim, offset = (row * g.q_heads + head) * D;
  const int64_t pos = query_pos0(g) + row;
  attend_row_by_block<kWarps>(g.q + offset, g.out + offset, g.k, g.v, g.kv_heads * D, head / g.group * D, D,
                              first_key(pos, g.window), pos, g.scale, g.softcap, [](int64_t j) { return j; });
}

}  // namespace autoglm::cuda_attention

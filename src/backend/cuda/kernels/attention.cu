// CUDA causal grouped-query attention over a contiguous KV cache, f32 (the semantics of ops/attention.h).
//
// Layout: q, out [t, q_heads, head_dim]; caches [capacity, kv_heads, head_dim] (key j of KV head g at
//   (j * kv_heads + g) * head_dim). Query row i sits at position q_pos0 + i and sees keys
//   [max(0, pos - window + 1) if window else 0, pos]. Query head h reads KV head h / group.
// In registers a lane owns dims lane, lane + 32, ..., lane + 32 (S - 1) of a head (S = ceil(head_dim / 32)
//   <= 8, a template parameter), so any head_dim up to 256 works; larger ones take attention_generic_kernel.
//
// Decode (t <= kDecodeMaxRows), split-K flash-decoding: grid (KV head x tile of up to GT of its query heads,
//   key split, query row); a block of 4 warps handles every query head of its tile, so each K and V row is
//   read once per KV head (GQA group <= 8; larger groups are tiled). Warps take KB keys at a time (their K
//   and V rows loaded before use, coalesced 128-byte rows per warp), score them for every head (warp
//   all-reduce), and keep an online softmax (running max, sum, unnormalized output) per head; the block then
//   merges its 4 warps. With one split it writes out; otherwise partials [t, q_heads, splits, head_dim] plus
//   (max, sum) go to backend scratch and attention_merge_kernel rescales them by exp(max_c - max). Splits are
//   chosen so the grid covers the GPU twice when the context is long (>= kMinKeysPerSplit keys each), 1 when
//   short. With positions on the device (ops/attention.h) the kernels read q_pos0 = positions[0], and the
//   splits, grid and scratch follow the cache capacity instead of the context: split c takes the fixed keys
//   [c * split_keys, (c + 1) * split_keys) of [0, capacity) clipped to the visible range; a split with none
//   writes an empty partial (max -inf, sum 0) that the merge skips. So the launch can be recorded and
//   replayed at any later position.
// Prefill (t > kDecodeMaxRows; always the host q_pos0, so not replayable): tiled flash attention in f32
//   SIMT: a block (4 warps) takes 16 query rows of one head (4 rows per warp); key tiles of 32 rows of K and
//   V are staged in shared memory (K rows padded so 16-byte reads of 8 lanes hit distinct banks). Lane j
//   scores key j of the tile against the warp's 4 rows; online softmax per row (max by warp shuffles, the sum
//   kept per lane); P.V by broadcasting each probability with a shuffle while lanes own output dims. Key
//   tiles outside the causal / window range of the query tile are skipped; tiles are launched longest first.
//   A tensor-core (bf16 wgmma / mma) version is future work: this one runs at the f32 FMA rate.
// Accumulation: f32 throughout; expf and tanhf (full precision) so results track the CPU to ~1e-6.
// Floor: decode reads 2 * n_keys * kv_heads * head_dim * 4 bytes (K and V) / bandwidth; prefill is
//   4 * t * n_keys * q_heads * head_dim FLOPs (about half of it under the causal mask).
// Reference: backend/cpu/kernels/attention.cpp and ref/attention_ref.cpp; tests/cuda/test_attention.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_contiguous.cuh"
#include "backend/cuda/kernels/attention_simt.cuh"
#include "ops/attention.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

using namespace cuda_attention;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kMaxLaneDims = 8;  // head_dim <= 256 in registers
static_assert(kWarps == kPrefillWarps, "the prefill kernel launches with kThreads");

using Geometry = ContiguousGeometry<float>;

// ---- decode ----

template <int S>
constexpr int keys_per_batch() {
  return S <= 2 ? 8 : (S <= 4 ? 4 : 2);
}

// part_out [t, q_heads, splits, head_dim] and part_stats [t, q_heads, splits, 2]; unused when splits == 1.
template <int S, int GT>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(Geometry g, int head_tiles, float* part_out, float* part_stats) {
  constexpr int KB = keys_per_batch<S>();
  constexpr float kNegInf = -INFINITY;
  const int kv_head = blockIdx.x / head_tiles, tile = blockIdx.x % head_tiles;
  const int split = blockIdx.y, splits = gridDim.y;
  const int64_t row = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t D = g.head_dim;
  const int64_t first_head = kv_head * g.group + int64_t{tile} * GT;
  const int heads = static_cast<int>(min(int64_t{GT}, g.group - int64_t{tile} * GT));

  int64_t key_begin = 0, key_end = 0;  // empty: this block writes an empty partial (max -inf, sum 0)
  split_range(g, query_pos0(g) + row, split, splits, &key_begin, &key_end);

  float q[GT][S];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    const float* qh = g.q + (row * g.q_heads + first_head + min(h, heads - 1)) * D;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int64_t d = lane + 32 * s;
      q[h][s] = d < D ? qh[d] : 0.0f;
    }
  }
  float m[GT], l[GT], acc[GT][S];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    m[h] = kNegInf;
    l[h] = 0.0f;
#pragma unroll
    for (int s = 0; s < S; ++s)
      acc[h][s] = 0.0f;
  }

  const int64_t row_stride = g.kv_heads * D;
  const float* k_base = g.k + kv_head * D;
  const float* v_base = g.v + kv_head * D;
  for (int64_t j0 = key_begin + int64_t{warp} * KB; j0 < key_end; j0 += int64_t{kWarps} * KB) {
    float kr[KB][S], vr[KB][S];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const int64_t j = j0 + b;
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const int64_t d = lane + 32 * s;
        const bool in = j < key_end && d < D;
        kr[b][s] = in ? __ldg(k_base + j * row_stride + d) : 0.0f;
        vr[b][s] = in ? __ldg(v_base + j * row_stride + d) : 0.0f;
      }
    }
    float score[KB][GT];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int s = 0; s < S; ++s)
          dot = fmaf(q[h][s], kr[b][s], dot);
        dot = warp_sum(dot);
        score[b][h] = j0 + b < key_end ? finish_score(dot, g) : kNegInf;
      }
    }
    online_softmax_step(score, vr, m, l, acc);
  }

  // Merge the 4 warps' states of each head: out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w.
  __shared__ float warp_acc[kWarps][GT][32 * S];
  __shared__ float warp_m[kWarps][GT], warp_l[kWarps][GT];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
#pragma unroll
    for (int s = 0; s < S; ++s)
      warp_acc[warp][h][lane + 32 * s] = acc[h][s];
    if (lane == 0) {
      warp_m[warp][h] = m[h];
      warp_l[warp][h] = l[h];
    }
  }
  __syncthreads();
  store_merged_states<kWarps, GT, 32 * S>(warp_acc, warp_m, warp_l, heads, D, row * g.q_heads + first_head,
                                          splits, split, g.out, part_out, part_stats);
}

// out = sum_c exp(max_c - max) part_c / sum_c exp(max_c - max) sum_c over the splits that hold keys.
__global__ void __launch_bounds__(kThreads)
    attention_merge_kernel(const float* __restrict__ part_out, const float* __restrict__ part_stats,
                           float* __restrict__ out, int splits, int64_t head_dim) {
  merge_splits(part_out, part_stats, out, splits, head_dim, blockIdx.x);
}

// ---- prefill ----

template <int S>
__global__ void __launch_bounds__(kThreads) attention_prefill_kernel(Geometry g) {
  extern __shared__ float4 smem4[];
  const int64_t D = g.head_dim, DP = padded_dim(D);
  float* q_s = reinterpret_cast<float*>(smem4);  // [kPrefillRows][DP]
  float* k_s = q_s + kPrefillRows * DP;          // [kPrefillKeys][DP]
  float* v_s = k_s + kPrefillKeys * DP;          // [kPrefillKeys][32 S]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t head = blockIdx.y, kv_head = head / g.group;
  const int64_t i0 = (int64_t{gridDim.x} - 1 - blockIdx.x) * kPrefillRows;  // longest tiles first
  const int64_t i_last = min(i0 + kPrefillRows, g.t) - 1;
  const int64_t lo = first_key(g.q_pos0 + i0, g.window), hi = g.q_pos0 + i_last + 1;
  const int64_t q_stride = g.q_heads * D, kv_stride = g.kv_heads * D;

  for (int64_t idx = threadIdx.x; idx < kPrefillRows * DP; idx += kThreads) {
    const int64_t r = idx / DP, d = idx % DP;
    q_s[idx] = i0 + r < g.t && d < D ? g.q[(i0 + r) * q_stride + head * D + d] : 0.0f;
  }

  int64_t pos[kPrefillRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
    const int64_t i = i0 + warp * kPrefillRowsPerWarp + r;
    pos[r] = i < g.t ? g.q_pos0 + i : -1;  // -1: a row past t sees no key
  }
  PrefillWarpRows<kPrefillRowsPerWarp, S> rows;
  rows.reset();

  for (int64_t kt = lo; kt < hi; kt += kPrefillKeys) {
    const int n_tile = static_cast<int>(min(int64_t{kPrefillKeys}, hi - kt));
    __syncthreads();  // the previous tile is consumed
    for (int64_t idx = threadIdx.x; idx < kPrefillKeys * DP; idx += kThreads) {
      const int64_t jj = idx / DP, d = idx % DP;
      k_s[idx] = jj < n_tile && d < D ? g.k[(kt + jj) * kv_stride + kv_head * D + d] : 0.0f;
    }
    for (int64_t idx = threadIdx.x; idx < kPrefillKeys * 32 * S; idx += kThreads) {
      const int64_t jj = idx / (32 * S), d = idx % (32 * S);
      v_s[idx] = jj < n_tile && d < D ? g.v[(kt + jj) * kv_stride + kv_head * D + d] : 0.0f;
    }
    __syncthreads();

    // Lane `lane` scores key kt + lane against the warp's rows.
    float score[kPrefillRowsPerWarp];
    rows.dots(q_s + warp * kPrefillRowsPerWarp * DP, k_s + lane * DP, DP, score);
    const int64_t j = kt + lane;
#pragma unroll
    for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
      const bool visible = lane < n_tile && j <= pos[r] && (g.window == 0 || pos[r] - j < g.window);
      score[r] = visible ? finish_score(score[r], g) : -INFINITY;
    }
    rows.add_tile(score, v_s, n_tile, lane);
  }

#pragma unroll
  for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
    const int64_t i = i0 + warp * kPrefillRowsPerWarp + r;
    if (i < g.t) rows.store(r, g.out + (i * g.q_heads + head) * D, D, lane);  // uniform across the warp
  }
}

// ---- launch ----

template <int S, int GT>
void launch_decode(CudaBackend& backend, const Geometry& g, int head_tiles, int splits, float* part_out,
                   float* part_stats) {
  const dim3 grid(static_cast<unsigned>(g.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(g.t));
  attention_decode_kernel<S, GT>
      <<<grid, kThreads, 0, backend.stream()>>>(g, head_tiles, part_out, part_stats);
  backend.note_launch("attention_decode_kernel");
}

template <int S>
void launch_decode_tiles(CudaBackend& backend, const Geometry& g, int splits, float* part_out,
                         float* part_stats) {
  const int tiles = static_cast<int>(head_tiles(g.group));
  with_head_tile(g.group,
                 [&]<int GT>() { launch_decode<S, GT>(backend, g, tiles, splits, part_out, part_stats); });
}

template <int S>
void launch_prefill(CudaBackend& backend, const Geometry& g) {
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(attention_prefill_kernel<S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(prefill_smem_bytes(32 * S, S)));
  (void)opted_in;  // a failure shows up as the launch error below
  const dim3 grid(static_cast<unsigned>((g.t + kPrefillRows - 1) / kPrefillRows),
                  static_cast<unsigned>(g.q_heads));
  attention_prefill_kernel<S><<<grid, kThreads, prefill_smem_bytes(g.head_dim, S), backend.stream()>>>(g);
  backend.note_launch("attention_prefill_kernel");
}

void attention_cuda_f32(Backend& base, const AttentionArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  Geometry g = contiguous_geometry<float>(a);
  if (g.t == 0 || g.q_heads == 0 || g.head_dim == 0) return;
  if (g.head_dim > 32 * kMaxLaneDims) {
    attention_generic_kernel<kWarps>
        <<<static_cast<unsigned>(g.t * g.q_heads), kThreads, 0, backend.stream()>>>(g);
    backend.note_launch("attention_generic_kernel");
    return;
  }
  if (g.t > kDecodeMaxRows) {
    with_lane_dims(g.head_dim, [&]<int S>() { launch_prefill<S>(backend, g); });
    return;
  }
  const DecodeSplits plan = plan_contiguous_splits(backend, &g, a.k_cache.shape[0]);
  const int splits = static_cast<int>(plan.splits);
  with_lane_dims(g.head_dim, [&]<int S>() {
    launch_decode_tiles<S>(backend, g, splits, plan.part_out, plan.part_stats);
  });
  if (splits > 1) {
    attention_merge_kernel<<<static_cast<unsigned>(g.t * g.q_heads), kThreads, 0, backend.stream()>>>(
        plan.part_out, plan.part_stats, g.out, splits, g.head_dim);
    backend.note_launch("attention_merge_kernel");
  }
}

const KernelRegistrar<AttentionArgs> kRegisterAttention(DeviceKind::kCuda, DType::kF32, attention_cuda_f32);

}  // namespace
}  // namespace autoglm

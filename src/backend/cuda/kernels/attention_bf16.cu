// CUDA causal grouped-query attention over a contiguous bf16 KV cache (the semantics of ops/attention.h);
// q and out are f32. The f32-cache kernels (attention.cu) stay the exact path; this one trades the rounding
// of Q and P to bf16 (prefill) for tensor cores.
//
// Layout: q, out [t, q_heads, head_dim] f32; caches [capacity, kv_heads, head_dim] bf16 (key j of KV head g
//   at (j * kv_heads + g) * head_dim). Query row i sits at position q_pos0 + i and sees keys
//   [max(0, pos - window + 1) if window else 0, pos]. Query head h reads KV head h / group.
//
// Prefill (t > kDecodeMaxRows, head_dim a multiple of 16 up to 256, 16-byte aligned caches): flash
//   attention on tensor cores (bf16 mma.sync, f32 accumulate), in attention_bf16_prefill.cu.
// Decode (t <= kDecodeMaxRows, D a multiple of 8 up to 256): split-K flash-decoding as attention.cu's, with
//   16-byte loads of 8 bf16: L = 8, 16 or 32 lanes own the D / 8 chunks of one key (the other lanes of the
//   warp take the next keys), so a warp reads 32 / L keys side by side; every L-lane group keeps its own
//   online softmax (max, sum, unnormalized output) per query head of its GQA tile, merged in shared memory
//   by the block and, with several key splits, by attention_merge_bf16_kernel. Q, scores and outputs f32.
//   With positions on the device (ops/attention.h) decode reads q_pos0 = positions[0], and the splits, grid
//   and scratch follow the cache capacity instead of the context: split c takes the fixed keys
//   [c * split_keys, (c + 1) * split_keys) of [0, capacity) clipped to the visible range; a split with none
//   writes an empty partial (max -inf, sum 0) that the merge skips. So the launch can be recorded and
//   replayed at any later position. Prefill always takes the host q_pos0 (recording it is not supported).
// Anything else (odd head_dim, D > 256, unaligned caches): the contiguous attention's generic kernel
//   (attention_contiguous.cuh), one block per (query row, head), correct and slow; it reads positions[0]
//   when given (its grid ignores the position).
// Accumulation: f32 throughout (mma accumulators, softmax state, merges).
// Floor: prefill 4 * t * n_keys * q_heads * D FLOPs (about half under the causal mask; Llama-3-8B at 2,048
//   tokens: 34 GFLOP per layer, ~0.1 ms at 300 TFLOP/s of bf16 mma.sync); decode reads
//   2 * n_keys * kv_heads * D * 2 bytes (K and V) / bandwidth.
// Reference: the CPU f32 attention on the same bf16-rounded cache values, tests/cuda/test_attention_bf16.cpp.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_bf16.cuh"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "ops/attention.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

using namespace attention_bf16;
using cuda_attention::merge_splits;
using cuda_attention::warp_sum;

using cuda_attention::kDecodeMaxRows;
constexpr int kMaxHeadDim = 256;

// The two bf16 of a 32-bit word as f32 (the lower address is the low half).
__device__ __forceinline__ float bf16_lo(uint32_t w) {
  return __uint_as_float(w << 16);
}
__device__ __forceinline__ float bf16_hi(uint32_t w) {
  return __uint_as_float(w & 0xffff0000u);
}

// ---- decode ----

// part_out [t, q_heads, splits, head_dim] and part_stats [t, q_heads, splits, 2]; unused when splits == 1.
// L lanes own one key's 8-bf16 chunks; GT query heads of one KV head per block.
template <int L, int GT>
__global__ void __launch_bounds__(kThreads)
    attention_decode_bf16_kernel(Geometry g, int head_tiles, float* part_out, float* part_stats) {
  constexpr int kSub = 32 / L;            // keys side by side in a warp
  constexpr int kGroups = kWarps * kSub;  // independent softmax states per head in the block
  constexpr int KB = 2;                   // keys per lane group and step
  constexpr int DP = 8 * L;               // head dims the lane groups cover
  constexpr float kNegInf = -INFINITY;
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  const int kv_head = blockIdx.x / head_tiles, tile = blockIdx.x % head_tiles;
  const int split = blockIdx.y, splits = gridDim.y;
  const int64_t row = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int sub = lane / L, u = lane % L, lane_group = warp * kSub + sub;
  const int64_t D = g.head_dim;
  const bool owns = 8 * u < D;  // D is a multiple of 8: a chunk is all in or all out
  const int64_t first_head = kv_head * g.group + int64_t{tile} * GT;
  const int heads = static_cast<int>(min(int64_t{GT}, g.group - int64_t{tile} * GT));

  // Empty with fixed-size splits past the visible keys: this block then writes an empty partial.
  int64_t key_begin = 0, key_end = 0;
  cuda_attention::split_range(g, query_pos0(g) + row, split, splits, &key_begin, &key_end);

  float q[GT][8];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    const float* qh = g.q + (row * g.q_heads + first_head + min(h, heads - 1)) * D + 8 * u;
#pragma unroll
    for (int e = 0; e < 8; ++e)
      q[h][e] = owns ? qh[e] : 0.0f;
  }
  float m[GT], l[GT], acc[GT][8];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    m[h] = kNegInf;
    l[h] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e)
      acc[h][e] = 0.0f;
  }

  const int64_t row_stride = g.kv_heads * D;
  const bf16* k_base = g.k + kv_head * D + 8 * u;
  const bf16* v_base = g.v + kv_head * D + 8 * u;
  // The loop bounds are uniform across the warp (the shuffles below need every lane).
  for (int64_t j0 = key_begin + int64_t{warp} * kSub * KB; j0 < key_end; j0 += int64_t{kWarps} * kSub * KB) {
    uint4 kr[KB], vr[KB];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const int64_t j = j0 + sub * KB + b;
      const bool in = j < key_end && owns;
      kr[b] = in ? __ldg(reinterpret_cast<const uint4*>(k_base + j * row_stride)) : make_uint4(0, 0, 0, 0);
      vr[b] = in ? __ldg(reinterpret_cast<const uint4*>(v_base + j * row_stride)) : make_uint4(0, 0, 0, 0);
    }
    float score[KB][GT];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const uint32_t w[4] = {kr[b].x, kr[b].y, kr[b].z, kr[b].w};
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          dot = fmaf(q[h][2 * e], bf16_lo(w[e]), dot);
          dot = fmaf(q[h][2 * e + 1], bf16_hi(w[e]), dot);
        }
#pragma unroll
        for (int offset = L / 2; offset > 0; offset /= 2)
          dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        score[b][h] = j0 + sub * KB + b < key_end ? finish_score(dot, g) : kNegInf;
      }
    }
    float vf[KB][8];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const uint32_t w[4] = {vr[b].x, vr[b].y, vr[b].z, vr[b].w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        vf[b][2 * e] = bf16_lo(w[e]);
        vf[b][2 * e + 1] = bf16_hi(w[e]);
      }
    }
    cuda_attention::online_softmax_step(score, vf, m, l, acc);
  }

  // Merge the lane groups' states of each head: out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w.
  __shared__ float group_acc[kGroups][GT][DP];
  __shared__ float group_m[kGroups][GT], group_l[kGroups][GT];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
#pragma unroll
    for (int e = 0; e < 8; ++e)
      group_acc[lane_group][h][8 * u + e] = acc[h][e];
    if (u == 0) {
      group_m[lane_group][h] = m[h];
      group_l[lane_group][h] = l[h];
    }
  }
  __syncthreads();
  cuda_attention::store_merged_states<kGroups, GT, DP>(group_acc, group_m, group_l, heads, D,
                                                       row * g.q_heads + first_head, splits, split, g.out,
                                                       part_out, part_stats);
}

// out = sum_c exp(max_c - max) part_c / sum_c exp(max_c - max) sum_c over the splits that hold keys.
__global__ void __launch_bounds__(kThreads)
    attention_merge_bf16_kernel(const float* __restrict__ part_out, const float* __restrict__ part_stats,
                                float* __restrict__ out, int splits, int64_t head_dim) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  merge_splits(part_out, part_stats, out, splits, head_dim, blockIdx.x);
}

// ---- launch ----
template <int L, int GT>
void launch_decode(CudaBackend& backend, const Geometry& g, int head_tiles, int splits, float* part_out,
                   float* part_stats) {
  const dim3 grid(static_cast<unsigned>(g.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(g.t));
  cuda_kernels::launch_dependent(backend, "attention_decode_bf16_kernel", attention_decode_bf16_kernel<L, GT>,
                                 grid, dim3(kThreads), 0, g, head_tiles, part_out, part_stats);
}

template <int L>
void launch_decode_tiles(CudaBackend& backend, const Geometry& g, int splits, float* part_out,
                         float* part_stats) {
  const int tiles = static_cast<int>(cuda_attention::head_tiles(g.group));
  cuda_attention::with_head_tile(
      g.group, [&]<int GT>() { launch_decode<L, GT>(backend, g, tiles, splits, part_out, part_stats); });
}

void launch_generic(CudaBackend& backend, const Geometry& g) {
  cuda_attention::attention_generic_kernel<kWarps>
      <<<static_cast<unsigned>(g.t * g.q_heads), kThreads, 0, backend.stream()>>>(g);
  backend.note_launch("attention_generic_bf16_kernel");
}

void launch_decode_split(CudaBackend& backend, Geometry g, int64_t capacity) {
  const cuda_attention::DecodeSplits plan = cuda_attention::plan_contiguous_splits(backend, &g, capacity);
  const int splits = static_cast<int>(plan.splits);
  if (g.head_dim <= 64) {
    launch_decode_tiles<8>(backend, g, splits, plan.part_out, plan.part_stats);
  } else if (g.head_dim <= 128) {
    launch_decode_tiles<16>(backend, g, splits, plan.part_out, plan.part_stats);
  } else {
    launch_decode_tiles<32>(backend, g, splits, plan.part_out, plan.part_stats);
  }
  if (splits > 1) {
    cuda_kernels::launch_dependent(backend, "attention_merge_bf16_kernel", attention_merge_bf16_kernel,
                                   dim3(static_cast<unsigned>(g.t * g.q_heads)), dim3(kThreads), 0,
                                   plan.part_out, plan.part_stats, g.out, splits, g.head_dim);
  }
}

void attention_cuda_bf16(Backend& base, const AttentionArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  const Geometry g = cuda_attention::contiguous_geometry<bf16>(a);
  if (g.t == 0 || g.q_heads == 0 || g.head_dim == 0) return;

  // 16-byte cache accesses need 16-byte aligned bases and rows (head_dim a multiple of 8).
  const bool aligned =
      reinterpret_cast<uintptr_t>(g.k) % 16 == 0 && reinterpret_cast<uintptr_t>(g.v) % 16 == 0;
  const bool vector_dims = g.head_dim % 8 == 0 && g.head_dim <= kMaxHeadDim;
  if (g.t > kDecodeMaxRows) {
    if (aligned && vector_dims && g.head_dim % 16 == 0) {
      launch_prefill(backend, g);
    } else {
      launch_generic(backend, g);
    }
    return;
  }
  if (aligned && vector_dims) {
    launch_decode_split(backend, g, a.k_cache.shape[0]);
  } else {
    launch_generic(backend, g);
  }
}

const KernelRegistrar<AttentionArgs> kRegisterAttention(DeviceKind::kCuda, DType::kBF16, attention_cuda_bf16);

}  // namespace
}  // namespace autoglm

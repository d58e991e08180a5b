// Split-K flash-decoding over a paged f16 KV cache on CUDA cores, one query row per sequence (the semantics
// of ops/paged_attention.h; q and out f32). bf16 caches take the tensor-core kernel
// (paged_attention_decode_tc.cu), which needs ~30x fewer instructions per key; this one keeps f16 caches
// exact to f32 accumulation (the mma of that file is bf16).
//
// Why a second decode kernel: the element-wise kernel of paged_attention.cu gives each lane one 2-byte cache
// element per load, so a warp moves 64 bytes per instruction and a batch-64 Llama-3-8B step spent ~3x its
// KV-read floor in attention. Here each lane moves 16 bytes (8 elements) of a K or V row per copy, and the
// copies run kStages - 1 batches of keys ahead of the arithmetic (cp.async into shared memory), so a warp
// never waits on a block-table lookup and an HBM read in turn for every batch of keys.
// Tiling: grid (KV head x tile of GT of its query heads, key split, query row), 4 warps per block, as the
//   element-wise kernel, so splits and the merge are shared. A row of head_dim elements is read by
//   LK = head_dim / 8 lanes; a warp reads 32 / LK keys per copy and U copies per batch (8 keys for head_dim
//   128), each key's row looked up in the block table when its copy is issued. Lane (sub = lane / LK,
//   li = lane % LK) holds dims [8 li, 8 li + 8) of q for its GT heads; a score is its 8-term dot product
//   summed over the LK lanes of the key (xor shuffles inside the group). Every key group (sub) of every warp
//   keeps its own online softmax per head (max, sum, 8 output dims per lane); the 4 x (32 / LK) states are
//   merged through shared memory at the end, then written to out (one split) or to the split partials.
// Pipeline: each warp owns a ring of kStages batches in shared memory; a lane's 16-byte copies land in its
//   own slots and only that lane reads them back, so cp.async.wait_group alone orders them (no barrier).
//   A copy past the key range or of a block id outside the cache reads nothing (zero-fill) and its key is
//   masked out of the softmax.
// Accumulation: f32; expf and tanhf as the element-wise kernel (the two agree to rounding, not bit for bit).
// Floor: 2 * n_keys * kv_heads * head_dim * 2 bytes per sequence / bandwidth (K and V read once per KV head).
// Reference: the CPU paged kernel, tests/cuda/test_paged_attention.cpp (decode rows of bf16 caches).
#include "backend/cuda/kernels/paged_attention_decode16.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/dependent_launch.cuh"

namespace autoglm::paged_decode16 {
namespace {

using namespace cuda_attention;
using namespace cuda_paged;
using namespace cuda_kernels;
using attention_bf16::cp_async_16;
using attention_bf16::cp_async_commit;
using attention_bf16::cp_async_wait;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kStages = 3;  // batches of keys per warp in shared memory: kStages - 1 in flight

__device__ __forceinline__ void widen8(const uint4& raw, __half, float (&f)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h;
    memcpy(&h, &w[i], sizeof h);
    const float2 v = __half22float2(h);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

// Shared memory of a block: the warps' copy rings, reused for the states of the final merge.
template <int LK, int GT>
struct Shape {
  static constexpr int kKeysPerCopy = 32 / LK;
  static constexpr int kCopies = GT >= 8 ? 2 : 4;  // copies per lane per batch, each of K and of V
  static constexpr int kBatchKeys = kKeysPerCopy * kCopies;
  static constexpr int kDims = LK * 8;
  static constexpr int kStates = kWarps * kKeysPerCopy;
  // uint4 slots: [stage][warp][copy][lane] for K, the same again for V.
  static constexpr size_t kRingSlots = size_t{kStages} * kWarps * kCopies * 32;
  static constexpr size_t kRingBytes = 2 * kRingSlots * sizeof(uint4);
  static constexpr size_t kStateBytes = sizeof(float) * kStates * GT * (kDims + 2);
  static constexpr size_t kSharedBytes = kRingBytes > kStateBytes ? kRingBytes : kStateBytes;
};

template <typename T, int LK, int GT>
__global__ void __launch_bounds__(kThreads)
    decode16_kernel(Paged<T> p, int head_tiles, float* part_out, float* part_stats) {
  using S = Shape<LK, GT>;
  constexpr int KPL = S::kKeysPerCopy, U = S::kCopies, KW = S::kBatchKeys, D = S::kDims;
  constexpr float kNegInf = -INFINITY;
  extern __shared__ __align__(16) unsigned char shared[];
  uint4* k_ring = reinterpret_cast<uint4*>(shared);
  uint4* v_ring = k_ring + S::kRingSlots;

  wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  allow_dependent_launch();
  const DecodeBlock blk = decode_block<GT>(p, head_tiles);
  const int kv_head = blk.kv_head, split = blk.split, splits = blk.splits, heads = blk.heads;
  const int64_t row = blk.row, first_head = blk.first_head, key_begin = blk.key_begin, key_end = blk.key_end;
  const SeqView& sv = blk.sv;
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int sub = lane / LK, li = lane % LK;

  // The warp's batches: keys [key_begin + (warp + kWarps b) KW, + KW) for b < batches.
  const int64_t first = key_begin + int64_t{warp} * KW;
  const int batches =
      first < key_end
          ? static_cast<int>((key_end - first + int64_t{kWarps} * KW - 1) / (int64_t{kWarps} * KW))
          : 0;
  const int64_t row_stride = p.kv_heads * D;
  const T* k_base = p.k + kv_head * D + li * 8;
  const T* v_base = p.v + kv_head * D + li * 8;
  // This lane's slot of copy u in a stage of the warp's ring.
  auto ring_slot = [&](int stage, int u) {
    return ((static_cast<size_t>(stage) * kWarps + warp) * U + u) * 32 + lane;
  };
  // Bit (stage * U + u) set: copy u of the batch in that stage holds a key of the range.
  uint32_t seen_bits = 0;
  auto issue = [&](int b) {
    const int stage = b % kStages;
    const int64_t j0 = first + int64_t{b} * kWarps * KW;
    seen_bits &= ~(((1u << U) - 1) << (stage * U));
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t j = j0 + u * KPL + sub;
      const int64_t r = b < batches && j < key_end ? cache_row(p, sv.s, j) : -1;
      const bool seen = r >= 0;
      seen_bits |= static_cast<uint32_t>(seen) << (stage * U + u);
      const size_t slot = ring_slot(stage, u);
      const int64_t offset = seen ? r * row_stride : 0;
      cp_async_16(k_ring + slot, k_base + offset, seen);
      cp_async_16(v_ring + slot, v_base + offset, seen);
    }
    cp_async_commit();  // an empty group past the last batch keeps the group count in step
  };
#pragma unroll
  for (int b = 0; b < kStages - 1; ++b)
    issue(b);

  float q[GT][8];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    const float4* qh = reinterpret_cast<const float4*>(
        p.q + (row * p.q_heads + first_head + min(h, heads - 1)) * D + li * 8);
    const float4 a = qh[0], b = qh[1];
    q[h][0] = a.x, q[h][1] = a.y, q[h][2] = a.z, q[h][3] = a.w;
    q[h][4] = b.x, q[h][5] = b.y, q[h][6] = b.z, q[h][7] = b.w;
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

  for (int b = 0; b < batches; ++b) {
    issue(b + kStages - 1);
    cp_async_wait<kStages - 1>();  // batch b's group has landed
    const int stage = b % kStages;
    // Scores of the batch's keys (K from the ring), then per head the online softmax: rescale to the new
    // max, probabilities in place of the scores; then P.V with V read from the ring key by key (so V never
    // occupies registers for the whole batch). Per head, keys are added in the order of online_softmax_step.
    float score[U][GT];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool seen = (seen_bits >> (stage * U + u)) & 1u;
      float kf[8];
      widen8(k_ring[ring_slot(stage, u)], T{}, kf);
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e)
          dot = fmaf(q[h][e], kf[e], dot);
#pragma unroll
        for (int offset = LK / 2; offset > 0; offset /= 2)
          dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        score[u][h] = seen ? capped_score(dot, p.scale, p.softcap) : kNegInf;
      }
    }
    bool live[GT];  // false: the head has seen no key yet, and none in this batch
#pragma unroll
    for (int h = 0; h < GT; ++h) {
      float batch_max = kNegInf;
#pragma unroll
      for (int u = 0; u < U; ++u)
        batch_max = fmaxf(batch_max, score[u][h]);
      const float m_new = fmaxf(m[h], batch_max);
      live[h] = m_new != kNegInf;
      if (!live[h]) continue;
      const float alpha = expf(m[h] - m_new);
      l[h] *= alpha;
#pragma unroll
      for (int e = 0; e < 8; ++e)
        acc[h][e] *= alpha;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        score[u][h] = expf(score[u][h] - m_new);
        l[h] += score[u][h];
      }
      m[h] = m_new;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float vf[8];
      widen8(v_ring[ring_slot(stage, u)], T{}, vf);
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        if (!live[h]) continue;
#pragma unroll
        for (int e = 0; e < 8; ++e)
          acc[h][e] = fmaf(score[u][h], vf[e], acc[h][e]);
      }
    }
  }
  cp_async_wait<0>();  // nothing may land in the ring once it holds the merge states
  __syncthreads();

  // Merge the block's states of each head: out = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) l_s.
  using StateAcc = float[S::kStates][GT][D];
  using StateScalar = float[S::kStates][GT];
  auto& state_acc = *reinterpret_cast<StateAcc*>(shared);
  auto& state_m = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc));
  auto& state_l = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc) + sizeof(StateScalar));
  const int state = warp * KPL + sub;
#pragma unroll
  for (int h = 0; h < GT; ++h) {
#pragma unroll
    for (int e = 0; e < 8; ++e)
      state_acc[state][h][li * 8 + e] = acc[h][e];
    if (li == 0) {
      state_m[state][h] = m[h];
      state_l[state][h] = l[h];
    }
  }
  __syncthreads();
  store_merged_states<S::kStates, GT, D>(state_acc, state_m, state_l, heads, D, row * p.q_heads + first_head,
                                         splits, split, p.out, part_out, part_stats, p.out16);
}

template <typename T, int LK, int GT>
void launch_shape(CudaBackend& backend, const Paged<T>& p, int head_tiles, int splits, float* part_out,
                  float* part_stats) {
  constexpr size_t kSmem = Shape<LK, GT>::kSharedBytes;
  if constexpr (kSmem > 48 * 1024) {
    // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
    static const cudaError_t opted_in = cudaFuncSetAttribute(
        decode16_kernel<T, LK, GT>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
    (void)opted_in;  // a failure shows up as the launch error
  }
  const dim3 grid(static_cast<unsigned>(p.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(p.t));
  launch_dependent(backend, "paged_decode16_kernel", decode16_kernel<T, LK, GT>, grid, dim3(kThreads), kSmem,
                   p, head_tiles, part_out, part_stats);
}

bool aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

}  // namespace

template <typename T>
bool supported(const Paged<T>& p) {
  return (p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256) && aligned16(p.k) && aligned16(p.v) &&
         aligned16(p.q);
}

template <typename T>
void launch(CudaBackend& backend, const Paged<T>& p, int splits, float* part_out, float* part_stats) {
  const int tiles = static_cast<int>(head_tiles(p.group));
  with_head_tile(p.group, [&]<int GT>() {
    if (p.head_dim == 64) {
      launch_shape<T, 8, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else if (p.head_dim == 128) {
      launch_shape<T, 16, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else {
      launch_shape<T, 32, GT>(backend, p, tiles, splits, part_out, part_stats);
    }
  });
}

template bool supported(const Paged<__half>&);
template void launch(CudaBackend&, const Paged<__half>&, int, float*, float*);

}  // namespace autoglm::paged_decode16

// Split-K flash-decoding over a paged bf16 / f16 KV cache, one query row per sequence (the semantics of
// ops/paged_attention.h; q and out f32).
//
// Why a second decode kernel: the element-wise kernel of paged_attention.cu gives each lane one 2-byte cache
// element per load, so a warp moves 64 bytes per instruction and a batch-64 Llama-3-8B step spent ~3x its
// KV-read floor in attention. Here each lane loads 16 bytes (8 elements) of a K or V row.
// Tiling: grid (KV head x tile of GT of its query heads, key split, query row), 4 warps per block, as the
//   element-wise kernel, so splits and the merge are shared. A row of head_dim elements is read by
//   LK = head_dim / 8 lanes; a warp reads 32 / LK keys per load and U loads per iteration (8 keys for
//   head_dim 128), each key's row looked up in the block table. Lane (sub = lane / LK, li = lane % LK) holds
//   dims [8 li, 8 li + 8) of q for its GT heads; a score is its 8-term dot product summed over the LK lanes
//   of the key (xor shuffles inside the group). Every key group (sub) of every warp keeps its own online
//   softmax per head (max, sum, 8 output dims per lane); the 4 x (32 / LK) states are merged through shared
//   memory at the end, then written to out (one split) or to the split partials.
// Accumulation: f32; expf and tanhf as the element-wise kernel (the two agree to rounding, not bit for bit).
// Floor: 2 * n_keys * kv_heads * head_dim * 2 bytes per sequence / bandwidth (K and V read once per KV head).
// Reference: the CPU paged kernel, tests/cuda/test_paged_attention.cpp (decode rows of bf16 caches).
#include "backend/cuda/kernels/paged_attention_decode16.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

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

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

__device__ __forceinline__ void widen8(const uint4& raw, __nv_bfloat16, float (&f)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

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

template <typename T, int LK, int GT>
__global__ void __launch_bounds__(kThreads)
    decode16_kernel(Paged<T> p, int head_tiles, float* part_out, float* part_stats) {
  constexpr int KPL = 32 / LK;           // keys per warp load
  constexpr int U = GT >= 8 ? 2 : 4;     // loads per lane in flight per iteration
  constexpr int KW = KPL * U;            // keys per warp per iteration
  constexpr int D = LK * 8;              // head_dim
  constexpr int kStates = kWarps * KPL;  // online-softmax states per block
  constexpr float kNegInf = -INFINITY;
  wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  allow_dependent_launch();
  const int kv_head = static_cast<int>(blockIdx.x) / head_tiles,
            tile = static_cast<int>(blockIdx.x) % head_tiles;
  const int split = static_cast<int>(blockIdx.y), splits = static_cast<int>(gridDim.y);
  const int64_t row = blockIdx.z;
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int sub = lane / LK, li = lane % LK;
  const int64_t first_head = kv_head * p.group + int64_t{tile} * GT;
  const int heads = static_cast<int>(min(int64_t{GT}, p.group - int64_t{tile} * GT));

  const SeqView sv = seq_view(p, seq_of_row(p, row));
  int64_t key_begin, key_end;  // empty for a split past the visible keys or an invalid row (then NaN)
  decode_key_range(p, sv, row, split, &key_begin, &key_end);

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

  const int64_t row_stride = p.kv_heads * D;
  const T* k_base = p.k + kv_head * D + li * 8;
  const T* v_base = p.v + kv_head * D + li * 8;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int64_t j0 = key_begin + int64_t{warp} * KW; j0 < key_end; j0 += int64_t{kWarps} * KW) {
    uint4 kr[U], vr[U];
    bool seen[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t j = j0 + u * KPL + sub;
      const int64_t r = j < key_end ? cache_row(p, sv.s, j) : -1;
      seen[u] = r >= 0;
      kr[u] = seen[u] ? __ldg(reinterpret_cast<const uint4*>(k_base + r * row_stride)) : zero;
      vr[u] = seen[u] ? __ldg(reinterpret_cast<const uint4*>(v_base + r * row_stride)) : zero;
    }
    float score[U][GT];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[8];
      widen8(kr[u], T{}, kf);
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e)
          dot = fmaf(q[h][e], kf[e], dot);
#pragma unroll
        for (int offset = LK / 2; offset > 0; offset /= 2)
          dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        score[u][h] = seen[u] ? capped_score(dot, p.scale, p.softcap) : kNegInf;
      }
    }
    float vf[U][8];
#pragma unroll
    for (int u = 0; u < U; ++u)
      widen8(vr[u], T{}, vf[u]);
    online_softmax_step(score, vf, m, l, acc);
  }

  // Merge the block's states of each head: out = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) l_s.
  __shared__ float state_acc[kStates][GT][D];
  __shared__ float state_m[kStates][GT], state_l[kStates][GT];
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
  store_merged_states<kStates, GT, D>(state_acc, state_m, state_l, heads, D, row * p.q_heads + first_head,
                                      splits, split, p.out, part_out, part_stats);
}

template <typename T, int LK, int GT>
void launch_shape(CudaBackend& backend, const Paged<T>& p, int head_tiles, int splits, float* part_out,
                  float* part_stats) {
  const dim3 grid(static_cast<unsigned>(p.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(p.t));
  launch_dependent(backend, "paged_decode16_kernel", decode16_kernel<T, LK, GT>, grid, dim3(kThreads), 0, p,
                   head_tiles, part_out, part_stats);
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

template bool supported(const Paged<__nv_bfloat16>&);
template bool supported(const Paged<__half>&);
template void launch(CudaBackend&, const Paged<__nv_bfloat16>&, int, float*, float*);
template void launch(CudaBackend&, const Paged<__half>&, int, float*, float*);

}  // namespace autoglm::paged_decode16

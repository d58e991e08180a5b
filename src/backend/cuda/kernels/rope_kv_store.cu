// rope_kv_store, CUDA: RoPE of q and k, and the K/V rows of new tokens written to cache rows slots[i] (when
// given: a paged cache) or positions[i]; f32, bf16, f16 or f8_e4m3 caches, in one launch. The angle always
// comes from positions[i].
//
// Layout: q, q_out [t, q_heads, head_dim]; k, v [t, kv_heads, head_dim] (or q, k, v the column blocks of a
//   packed [t, q | k | v] input, read with its row stride); caches [capacity, kv_heads,
//   head_dim], token i's rows at cache row slots[i], or positions[i] without slots (read on the device, so
//   the launch does not depend on the step's cache rows and a decode step can be replayed as a CUDA graph).
//   kNeox pairs (j, j + rotary_dim/2), kInterleaved pairs (2j, 2j + 1); dims >= rotary_dim pass through.
//   q_out may be q: each element is read and written by the same thread, and q's pass-through copy is
//   skipped.
// Math: rope_math.cuh, shared with rope.cu (f32 angle, accurate sincosf); bf16 / f16 / f8_e4m3 caches are
//   rounded to nearest even with the host's own functions (core/half.h, core/fp8.h), as kv_store does.
// Threading: a 2-D grid, y over tokens (grid-stride past 65535) and x over the token's work items, one
//   thread each: first the rotated pairs of its q heads then k heads, one pair index for up to 8 heads per
//   thread (one sincosf for all of them, their loads issued together before any store; consecutive threads
//   take consecutive pairs of a head, so accesses coalesce; interleaved pairs are one float2 load when
//   aligned), then the pass-through dims of k (and of q when q_out is not q), then the v elements, four per
//   thread where rows are aligned for it. A token of Llama-3-8B (5 x 64 pair items for 32 + 8 heads, 8 x 128
//   / 4 v items) is 3 blocks of 256. A token whose cache row
//   (slot or position) falls outside the cache (the caller guarantees none does) gets q_out but no cache
//   write, never one past the cache.
// Floor: t * (2 * q + k + v) * 4 bytes + two cache rows per token / memory bandwidth; decode moves ~40 KB and
//   is launch-bound: what the fusion saves is three launches per layer.
// Reference: the CPU kernel (kernels/rope_kv_store.cpp) on host copies (tests/cuda/test_rope_kv_store.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/rope_math.cuh"
#include "core/fp8.h"
#include "core/half.h"
#include "ops/kernel_table.h"
#include "ops/rope_kv_store.h"

namespace autoglm {
namespace {

using cuda_rope::PairAccess;

constexpr int kThreads = 256;
// Heads one thread rotates at one pair index: the angle's sine and cosine (an accurate sincosf, tens of
// instructions) are computed once for them, not once per head.
constexpr int kHeadsPerPair = 8;
constexpr int64_t kMaxGridY = 65535;

// Per-token work items fit an int: a token's q, k and v rows would be 8 GiB past that.
struct Params {
  const float* q;
  const float* k;
  const float* v;
  int64_t q_stride, kv_stride;  // floats between consecutive tokens' q rows, k (and v) rows
  const int32_t* positions;
  const int32_t* slots;  // cache rows, or nullptr: positions
  const float* inv_freq;
  float* q_out;
  void* k_cache;
  void* v_cache;
  int64_t t, capacity;
  int q_heads, kv_heads, head_dim, half, pass;  // pass = head_dim - 2 * half
  int n_pairs;                                  // ceil((q_heads + kv_heads) / kHeadsPerPair) * half
  int n_pass;                                   // (kv_heads, + q_heads unless q_out is q) * pass
  int v_width;                                  // v elements per work item: 4 where aligned, else 1
  int n_work;                                   // n_pairs + n_pass + kv_heads * head_dim / v_width
};

// One f32 value into a cache of dtype kCache at element `at`.
template <DType kCache>
__device__ __forceinline__ void put(void* cache, int64_t at, float x) {
  if constexpr (kCache == DType::kF32) {
    static_cast<float*>(cache)[at] = x;
  } else if constexpr (kCache == DType::kBF16) {
    static_cast<uint16_t*>(cache)[at] = f32_to_bf16(x);
  } else if constexpr (kCache == DType::kF8E4M3) {
    static_cast<uint8_t*>(cache)[at] = f32_to_fp8_e4m3(x);
  } else {
    static_cast<uint16_t*>(cache)[at] = f32_to_f16(x);
  }
}

// Four f32 values into a cache of dtype kCache at element `at` (a multiple of 4), in one store.
template <DType kCache>
__device__ __forceinline__ void put4(void* cache, int64_t at, float4 x) {
  if constexpr (kCache == DType::kF32) {
    reinterpret_cast<float4*>(static_cast<float*>(cache) + at)[0] = x;
  } else if constexpr (kCache == DType::kF8E4M3) {
    const uint32_t packed = uint32_t{f32_to_fp8_e4m3(x.x)} | uint32_t{f32_to_fp8_e4m3(x.y)} << 8 |
                            uint32_t{f32_to_fp8_e4m3(x.z)} << 16 | uint32_t{f32_to_fp8_e4m3(x.w)} << 24;
    reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(cache) + at)[0] = packed;
  } else {
    const auto h = [](float v) { return kCache == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v); };
    reinterpret_cast<uint2*>(static_cast<uint16_t*>(cache) + at)[0] =
        make_uint2(uint32_t{h(x.x)} | uint32_t{h(x.y)} << 16, uint32_t{h(x.z)} | uint32_t{h(x.w)} << 16);
  }
}

template <PairAccess kAccess, DType kCache>
__global__ void __launch_bounds__(kThreads) rope_kv_store_kernel(const Params p) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  const int w = static_cast<int>(blockIdx.x) * kThreads + static_cast<int>(threadIdx.x);
  if (w >= p.n_work) return;
  const int64_t kv_row = static_cast<int64_t>(p.kv_heads) * p.head_dim;
  for (int64_t token = blockIdx.y; token < p.t; token += gridDim.y) {
    const int32_t position = p.positions[token];
    const int32_t slot = p.slots != nullptr ? p.slots[token] : position;
    const bool in_cache = slot >= 0 && slot < p.capacity;
    const int64_t cache_row = static_cast<int64_t>(slot) * kv_row;
    if (w < p.n_pairs) {
      // Pair i of heads [first, last): q_heads of q, then kv_heads of k.
      const int group = w / p.half, i = w % p.half;
      const int first = group * kHeadsPerPair, last = min(first + kHeadsPerPair, p.q_heads + p.kv_heads);
      // Every head's pair loaded before any is rotated and stored: the loads are in flight together (q_out
      // may be q, so a store could otherwise hold back the next head's load).
      float2 x[kHeadsPerPair];
#pragma unroll
      for (int j = 0; j < kHeadsPerPair; ++j) {
        const int head = first + j;
        if (head >= last) break;
        if (head < p.q_heads) {
          x[j] = cuda_rope::load_pair<kAccess>(p.q + token * p.q_stride + head * p.head_dim, i, p.half);
        } else if (in_cache) {
          x[j] = cuda_rope::load_pair<kAccess>(p.k + token * p.kv_stride + (head - p.q_heads) * p.head_dim, i,
                                               p.half);
        }
      }
      float s, c;
      cuda_rope::angle_sincos(position, p.inv_freq[i], &s, &c);
#pragma unroll
      for (int j = 0; j < kHeadsPerPair; ++j) {
        const int head = first + j;
        if (head >= last) break;
        if (head < p.q_heads) {
          const float2 y = cuda_rope::rotate(x[j], s, c);
          cuda_rope::store_pair<kAccess>(p.q_out + (token * p.q_heads + head) * p.head_dim, i, p.half, y);
        } else if (in_cache) {
          const float2 y = cuda_rope::rotate(x[j], s, c);
          const int64_t at = cache_row + (head - p.q_heads) * p.head_dim;
          put<kCache>(p.k_cache, at + cuda_rope::pair_first<kAccess>(i, p.half), y.x);
          put<kCache>(p.k_cache, at + cuda_rope::pair_second<kAccess>(i, p.half), y.y);
        }
      }
    } else if (w < p.n_pairs + p.n_pass) {
      const int e = w - p.n_pairs, head = e / p.pass, d = 2 * p.half + e % p.pass;  // k heads, then q heads
      if (head < p.kv_heads) {
        if (in_cache) {
          put<kCache>(p.k_cache, cache_row + static_cast<int64_t>(head) * p.head_dim + d,
                      p.k[token * p.kv_stride + static_cast<int64_t>(head) * p.head_dim + d]);
        }
      } else {
        const int64_t in_head = static_cast<int64_t>(head - p.kv_heads) * p.head_dim + d;
        p.q_out[token * p.q_heads * p.head_dim + in_head] = p.q[token * p.q_stride + in_head];
      }
    } else if (in_cache) {
      const int e = (w - p.n_pairs - p.n_pass) * p.v_width;
      if (p.v_width == 4) {
        put4<kCache>(p.v_cache, cache_row + e,
                     *reinterpret_cast<const float4*>(p.v + token * p.kv_stride + e));
      } else {
        put<kCache>(p.v_cache, cache_row + e, p.v[token * p.kv_stride + e]);
      }
    }
  }
}

template <PairAccess kAccess, DType kCache>
void launch(CudaBackend& cuda, const Params& p) {
  const dim3 grid(static_cast<unsigned>((p.n_work + kThreads - 1) / kThreads),
                  static_cast<unsigned>(std::min(p.t, kMaxGridY)));
  cuda_kernels::launch_dependent(cuda, "rope_kv_store", rope_kv_store_kernel<kAccess, kCache>, grid,
                                 dim3(kThreads), 0, p);
}

template <DType kCache>
void rope_kv_store_cuda(Backend& backend, const RopeKvStoreArgs& a) {
  const RopeKvStoreInputs in = rope_kv_store_inputs(a);
  Params p;
  p.q = in.q;
  p.k = in.k;
  p.v = in.v;
  p.q_stride = in.q_stride;
  p.kv_stride = in.kv_stride;
  p.positions = a.positions.as<const int32_t>();
  p.slots = a.slots.data != nullptr ? a.slots.as<const int32_t>() : nullptr;
  p.inv_freq = a.inv_freq.as<const float>();
  p.q_out = a.q_out.as<float>();
  p.k_cache = a.k_cache.data;
  p.v_cache = a.v_cache.data;
  p.t = in.t;
  p.capacity = a.k_cache.shape[0];
  p.q_heads = static_cast<int>(in.q_heads);
  p.kv_heads = static_cast<int>(in.kv_heads);
  p.head_dim = static_cast<int>(in.head_dim);
  p.half = a.rotary_dim / 2;
  p.pass = p.head_dim - 2 * p.half;
  p.n_pairs = (p.q_heads + p.kv_heads + kHeadsPerPair - 1) / kHeadsPerPair * p.half;
  const bool in_place = a.q_out.data == in.q;
  p.n_pass = (p.kv_heads + (in_place ? 0 : p.q_heads)) * p.pass;
  // v by four elements: one 16-byte load and one store of 4 cache elements, where every token's v row and
  // cache row start aligned for them.
  const int64_t kv_row = static_cast<int64_t>(p.kv_heads) * p.head_dim;
  const bool v4 = kv_row % 4 == 0 && reinterpret_cast<uintptr_t>(in.v) % 16 == 0 && in.kv_stride % 4 == 0 &&
                  reinterpret_cast<uintptr_t>(a.v_cache.data) % (4 * dtype_size(kCache)) == 0;
  p.v_width = v4 ? 4 : 1;
  p.n_work = p.n_pairs + p.n_pass + static_cast<int>(kv_row / p.v_width);
  if (p.t == 0 || p.n_work == 0) return;
  CudaBackend& cuda = cuda_backend(backend);
  switch (a.layout) {
    case RopeLayout::kNeox:
      launch<PairAccess::kNeox, kCache>(cuda, p);
      break;
    case RopeLayout::kInterleaved: {
      // Every head row starts 8-byte aligned when head_dim is even and the three f32 bases are.
      const bool vec2 = p.head_dim % 2 == 0 && reinterpret_cast<uintptr_t>(in.q) % 8 == 0 &&
                        reinterpret_cast<uintptr_t>(a.q_out.data) % 8 == 0 &&
                        reinterpret_cast<uintptr_t>(in.k) % 8 == 0 && in.q_stride % 2 == 0;
      if (vec2) {
        launch<PairAccess::kInterleavedVec2, kCache>(cuda, p);
      } else {
        launch<PairAccess::kInterleavedScalar, kCache>(cuda, p);
      }
      break;
    }
  }
}

const KernelRegistrar<RopeKvStoreArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32,
                                                    rope_kv_store_cuda<DType::kF32>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterBF16(DeviceKind::kCuda, DType::kBF16,
                                                     rope_kv_store_cuda<DType::kBF16>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16,
                                                    rope_kv_store_cuda<DType::kF16>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterF8(DeviceKind::kCuda, DType::kF8E4M3,
                                                   rope_kv_store_cuda<DType::kF8E4M3>);

}  // namespace
}  // namespace autoglm

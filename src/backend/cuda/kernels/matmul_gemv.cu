// GEMV for the CUDA matmul at small m (decode): out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) (+ addend[m, n],
// after the bias: ops/matmul.h), m <= 8.
//
// Layout: w row-major [n, k] (PyTorch's [out, in]), f32, f16 or bf16; x, out, bias f32, row-major.
// Tiling: a block of 256 threads owns kRows consecutive w rows (4, or 1 when n is too small to give every SM
//   two blocks) and splits k among all its threads: thread t takes 16-byte chunks t, t + 256, t + 512, ...
//   of each of its rows (8 bf16/f16 or 4 f32 elements per chunk), so a warp's load of one row is 512
//   contiguous bytes. kUnroll chunks x kRows rows of loads are issued before the first use (8 loads of 16
//   bytes in flight per thread), through ld.global.nc.L1::no_allocate so the one-pass weight stream does not
//   evict x from L1. x is read with 16-byte __ldg loads: it is at most 8 x 28k floats, shared by every block,
//   and stays in L1/L2. Each w chunk, widened to f32 in registers, is multiplied into all M rows of x before
//   the next, so w is read exactly once for the M rows. The block reduces by warp shuffles, then across its
//   8 warps through shared memory, and adds the bias.
// Fallback: when k is not a multiple of the chunk or w / x are not 16-byte aligned, the same kernel runs
//   with one-element chunks (coalesced 2- or 4-byte loads); correct for any shape, not tuned.
// Accumulation: f32 FMA; each thread sums its chunks in order, then a fixed shuffle/shared-memory tree.
// Floor: bytes(w) / bandwidth: a [4096 x 4096] bf16 weight is 33.6 MB -> 10.9 us at 3.07 TB/s; the fused
//   gate/up [28672 x 4096] 235 MB -> 76 us; the LM head [128256 x 4096] 1.05 GB -> 342 us.
// Reference: the CPU matmul (backend/cpu/kernels/matmul.cpp, ref/matmul_ref.cpp); tests/cuda/test_matmul.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/load_streaming.cuh"
#include "backend/cuda/kernels/matmul_gemv.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

using cuda_kernels::allow_dependent_launch;
using cuda_kernels::launch_dependent;
using cuda_kernels::load_streaming;
using cuda_kernels::wait_for_prior_kernels;

__device__ __forceinline__ void widen_pair(uint32_t word, __nv_bfloat16, float* f) {
  f[0] = __uint_as_float(word << 16);
  f[1] = __uint_as_float(word & 0xffff0000u);
}

__device__ __forceinline__ void widen_pair(uint32_t word, __half, float* f) {
  __half2 h;
  static_assert(sizeof h == sizeof word);
  memcpy(&h, &word, sizeof h);
  const float2 v = __half22float2(h);
  f[0] = v.x;
  f[1] = v.y;
}

// One chunk of a w row: the raw bits as loaded, and their widening to kElems floats.
template <typename T, bool kVector>
struct WChunk;

template <typename T>
struct WChunk<T, true> {
  static constexpr int kElems = 16 / sizeof(T);
  using Raw = uint4;
  __device__ static Raw load(const T* p) { return load_streaming(p); }
  __device__ static void widen(const Raw& r, float (&f)[kElems]) {
    if constexpr (sizeof(T) == 4) {
      f[0] = __uint_as_float(r.x);
      f[1] = __uint_as_float(r.y);
      f[2] = __uint_as_float(r.z);
      f[3] = __uint_as_float(r.w);
    } else {
      widen_pair(r.x, T{}, f + 0);
      widen_pair(r.y, T{}, f + 2);
      widen_pair(r.z, T{}, f + 4);
      widen_pair(r.w, T{}, f + 6);
    }
  }
};

template <typename T>
struct WChunk<T, false> {
  static constexpr int kElems = 1;
  using Raw = std::conditional_t<sizeof(T) == 4, float, unsigned short>;
  __device__ static Raw load(const T* p) { return __ldg(reinterpret_cast<const Raw*>(p)); }
  __device__ static void widen(const Raw& r, float (&f)[1]) {
    if constexpr (sizeof(T) == 4) {
      f[0] = r;
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      f[0] = __uint_as_float(static_cast<uint32_t>(r) << 16);
    } else {
      f[0] = __half2float(__ushort_as_half(r));
    }
  }
};

// kElems consecutive floats of x; 16-byte aligned whenever kElems > 1.
template <int kElems>
__device__ __forceinline__ void load_x(const float* p, float (&f)[kElems]) {
  if constexpr (kElems == 1) {
    f[0] = __ldg(p);
  } else {
#pragma unroll
    for (int i = 0; i < kElems / 4; ++i) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(p) + i);
      f[4 * i + 0] = v.x;
      f[4 * i + 1] = v.y;
      f[4 * i + 2] = v.z;
      f[4 * i + 3] = v.w;
    }
  }
}

// kElems consecutive elements of a 16-bit x (T, the weights' type), widened; 16-byte aligned when kElems > 1.
template <int kElems, typename T>
__device__ __forceinline__ void load_x(const T* p, float (&f)[kElems]) {
  if constexpr (kElems == 1) {
    WChunk<T, false>::widen(__ldg(reinterpret_cast<const unsigned short*>(p)), f);
  } else {
    static_assert(kElems == 8);
    WChunk<T, true>::widen(__ldg(reinterpret_cast<const uint4*>(p)), f);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T, typename XT, bool kVector, int M, int kRows, int kUnroll>
__global__ void __launch_bounds__(kThreads)
    gemv_kernel(const XT* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
                const float* __restrict__ addend, float* __restrict__ out, int64_t n, int64_t k) {
  using Chunk = WChunk<T, kVector>;
  constexpr int V = Chunk::kElems;
  const int64_t n_chunks = k / V;  // the launcher picks kVector only when V divides k
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const T* rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r)  // rows past n re-read row n - 1 and are not written
    rows[r] = w + (row0 + r < n ? row0 + r : n - 1) * k;

  float acc[kRows][M];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int i = 0; i < M; ++i)
      acc[r][i] = 0.0f;
  }

  for (int64_t c0 = threadIdx.x; c0 < n_chunks; c0 += int64_t{kThreads} * kUnroll) {
    typename Chunk::Raw raw[kUnroll][kRows];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + int64_t{u} * kThreads;
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        raw[u][r] = c < n_chunks ? Chunk::load(rows[r] + c * V) : typename Chunk::Raw{};
    }
    // The first weight loads are in flight before the wait for the kernel that wrote x
    // (dependent_launch.cuh).
    if (c0 == threadIdx.x) {
      wait_for_prior_kernels();
      allow_dependent_launch();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + int64_t{u} * kThreads;
      if (c >= n_chunks) break;
      float wf[kRows][V];
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        Chunk::widen(raw[u][r], wf[r]);
#pragma unroll
      for (int i = 0; i < M; ++i) {
        float xf[V];
        load_x<V>(x + i * k + c * V, xf);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int e = 0; e < V; ++e)
            acc[r][i] = fmaf(wf[r][e], xf[e], acc[r][i]);
        }
      }
    }
  }

  wait_for_prior_kernels();  // for threads that had no chunk (a no-op after the first wait)
  __shared__ float partial[kWarps][kRows * M];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const float s = warp_sum(acc[r][i]);
      if (lane == 0) partial[warp][r * M + i] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < kRows * M) {
    const int r = threadIdx.x / M, i = threadIdx.x % M;
    const int64_t row = row0 + r;
    if (row < n) {
      float s = 0.0f;
#pragma unroll
      for (int wi = 0; wi < kWarps; ++wi)
        s += partial[wi][threadIdx.x];
      if (bias != nullptr) s += bias[row];
      if (addend != nullptr) s = addend[i * n + row] + s;
      out[i * n + row] = s;
    }
  }
}

template <typename T, bool kVector, int kRows, int kUnroll, typename XT>
void launch_shape(CudaBackend& backend, const XT* x, const T* w, const float* bias, const float* addend,
                  float* out, int64_t m, int64_t n, int64_t k) {
  const dim3 grid(static_cast<unsigned>((n + kRows - 1) / kRows));
  auto launch = [&]<int M>() {
    launch_dependent(backend, "gemv_kernel", gemv_kernel<T, XT, kVector, M, kRows, kUnroll>, grid,
                     dim3(kThreads), 0, x, w, bias, addend, out, n, k);
  };
  if constexpr (!std::is_same_v<XT, float>) return launch.template operator()<1>();  // 16-bit x: m = 1 only
  switch (m) {
    case 1:
      return launch.template operator()<1>();
    case 2:
      return launch.template operator()<2>();
    case 3:
      return launch.template operator()<3>();
    case 4:
      return launch.template operator()<4>();
    case 5:
      return launch.template operator()<5>();
    case 6:
      return launch.template operator()<6>();
    case 7:
      return launch.template operator()<7>();
    default:
      return launch.template operator()<8>();
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <typename T, typename XT>
void launch_typed(CudaBackend& backend, const XT* x, const T* w, const float* bias, const float* addend,
                  float* out, int64_t m, int64_t n, int64_t k) {
  constexpr int64_t kChunk = 16 / sizeof(T);
  const bool vector = k % kChunk == 0 && aligned16(w) && aligned16(x);
  if (!vector) {
    launch_shape<T, false, 1, 4>(backend, x, w, bias, addend, out, m, n, k);
    return;
  }
  // Four rows a block when that still gives each SM two blocks (x is then read once per four w rows);
  // otherwise one, so a small n still spreads over every SM.
  const int64_t sms = std::max(1, backend.properties().multiProcessorCount);
  if ((n + 3) / 4 >= 2 * sms) {
    launch_shape<T, true, 4, 2>(backend, x, w, bias, addend, out, m, n, k);
  } else {
    launch_shape<T, true, 1, 8>(backend, x, w, bias, addend, out, m, n, k);
  }
}

}  // namespace

void launch_gemv_16bit_x(CudaBackend& backend, DType w_dtype, const void* x, const void* w, const float* bias,
                         float* out, int64_t n, int64_t k, const float* addend) {
  if (n <= 0) return;
  if (w_dtype == DType::kF16) {
    launch_typed(backend, static_cast<const __half*>(x), static_cast<const __half*>(w), bias, addend, out, 1,
                 n, k);
  } else if (w_dtype == DType::kBF16) {
    launch_typed(backend, static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), bias,
                 addend, out, 1, n, k);
  }
}

void launch_gemv(CudaBackend& backend, DType w_dtype, const float* x, const void* w, const float* bias,
                 float* out, int64_t m, int64_t n, int64_t k, const float* addend) {
  if (m <= 0 || n <= 0) return;
  // The op registers this path only for the three types below.
  if (w_dtype == DType::kF32) {
    launch_typed(backend, x, static_cast<const float*>(w), bias, addend, out, m, n, k);
  } else if (w_dtype == DType::kF16) {
    launch_typed(backend, x, static_cast<const __half*>(w), bias, addend, out, m, n, k);
  } else if (w_dtype == DType::kBF16) {
    launch_typed(backend, x, static_cast<const __nv_bfloat16*>(w), bias, addend, out, m, n, k);
  }
}

}  // namespace autoglm

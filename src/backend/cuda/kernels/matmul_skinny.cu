// Skinny tensor-core GEMM for batched decode: out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) (+ addend[m, n],
// after the bias: ops/matmul.h), w f16 or bf16
// row-major [n, k] (PyTorch's [out, in]), 2 <= m <= 16, f32 accumulation and output.
//
// Why: a decode step of a few sequences must still stream every weight once (15 GB for Llama-3-8B), so its
//   GEMMs are bound by the weight read, not by arithmetic. At m = 8 the CUDA-core GEMV is capped by its FMAs
//   and cuBLASLt's smallest tiles reach about 45% of the copy bandwidth (H100). Here each w element is loaded
//   once, straight into tensor-core registers, and used for all m rows of x: 0.8-1.0 of the copy bandwidth
//   at m = 8 on the Llama-3-8B shapes, 0.79-1.00 at m = 16 on 16-bit x, 0.63-0.93 on f32 x
//   (tools/bench/matmul_cuda.cpp).
// Tiling: the mma.sync m16n8k16 instruction computes out^T: its A operand (16 x 16) is 16 w rows, its B
//   operand (16 x 8) is 8 x rows (x row-major [m, k] is exactly B's "col" layout). A block of 8 warps owns 16
//   w rows (grid = ceil(n / 16)); its warps split k in steps of 128 (warp i takes steps i, i + 8, ...). In a
//   step, thread (group g = lane / 4, t = lane % 4) loads four 16-byte chunks of w row g and four of row g +
//   8, at k offsets (4j + t) * 8, j = 0..3: a row's 256 bytes come from 4 threads, 16 rows per warp. A dot
//   product does not care in which order k is visited, so each chunk goes straight into the A fragment: its
//   first 4 elements are the thread's "k = 2t, 2t + 1, 2t + 8, 2t + 9" of one mma and its last 4 those of the
//   next. The B fragment (x) is loaded with the same k permutation (chunk (4j + t) of x row g of each 8-row
//   tile), so both operands agree on every k. x is f32 (rounded to w's type to nearest-even as it is read) or
//   already 16-bit; it is small and shared by all blocks, so it stays in L1/L2 (__ldg), while w goes through
//   ld.global.nc.L1::no_allocate. Tiles of x past m are skipped; rows past m or n are zero or clamped and not
//   stored; k past the end (k a multiple of 8) is zero-filled.
// Reduction: each warp keeps its 8 x 16 accumulators per tile in registers across its steps; then the 8
//   warps' partials go through shared memory and are summed in warp order, plus the bias.
// Batch invariance: an output element is the same sequence of mma instructions over the same k steps and the
//   same warp-order sum whatever m is (tiles are independent instructions, and the one- and two-tile loops
//   issue a tile's mma in the same order), so a sequence's logits do not depend on the batch it decodes in.
// Floor: bytes(w) / bandwidth, as for the GEMV: a [4096 x 4096] bf16 weight 33.6 MB -> 10.9 us at 3.07 TB/s.
//   Arithmetic is 2 * 16 * n * k at most, about 1% of the tensor-core rate in that time.
// Reference: the CPU matmul on x rounded to w's type (tests/cuda/test_matmul.cpp).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/load_streaming.cuh"
#include "backend/cuda/kernels/matmul_skinny.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kBlockRows = 16;                 // w rows per block: the mma's M
constexpr int kChunks = 4;                     // 16-byte chunks of each of two w rows per thread per step
constexpr int64_t kStepK = 4 * kChunks * 8;    // k elements per warp step: 4 threads x 4 chunks x 8
constexpr int kMaxTiles = kSkinnyMaxRows / 8;  // 8-row x tiles (the mma's N)

using cuda_kernels::allow_dependent_launch;
using cuda_kernels::launch_dependent;
using cuda_kernels::load_streaming;
using cuda_kernels::wait_for_prior_kernels;

__device__ __forceinline__ uint32_t pack2(float lo, float hi, __nv_bfloat16) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t word;
  memcpy(&word, &v, sizeof word);
  return word;
}

__device__ __forceinline__ uint32_t pack2(float lo, float hi, __half) {
  const __half2 v = __floats2half2_rn(lo, hi);
  uint32_t word;
  memcpy(&word, &v, sizeof word);
  return word;
}

// Eight consecutive x elements as four words of two T each (lower index in the low half, as the mma reads).
template <typename T, typename XT>
__device__ __forceinline__ uint4 load_x_chunk(const XT* p) {
  if constexpr (std::is_same_v<XT, float>) {
    const float4 lo = __ldg(reinterpret_cast<const float4*>(p));
    const float4 hi = __ldg(reinterpret_cast<const float4*>(p) + 1);
    return make_uint4(pack2(lo.x, lo.y, T{}), pack2(lo.z, lo.w, T{}), pack2(hi.x, hi.y, T{}),
                      pack2(hi.z, hi.w, T{}));
  } else {
    return __ldg(reinterpret_cast<const uint4*>(p));
  }
}

// c += A . B for one m16n8k16 tile: a0/a2 row g, a1/a3 row g + 8 (k low, k high); b0/b1 k low, k high.
template <typename T>
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                            uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// The weight chunks of one warp step (4 chunks of row g and 4 of row g + 8); zeros past k.
template <typename T>
__device__ __forceinline__ void load_w_step(const T* w_lo, const T* w_hi, int64_t step, int64_t k, int t,
                                            uint4 (&lo)[kChunks], uint4 (&hi)[kChunks]) {
  const int64_t k0 = step * kStepK;
  const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    const int64_t kc = k0 + (j * 4 + t) * 8;
    lo[j] = kc < k ? load_streaming(w_lo + kc) : zero;
    hi[j] = kc < k ? load_streaming(w_hi + kc) : zero;
  }
}

template <typename T, typename XT, int kTiles>
__global__ void __launch_bounds__(kThreads)
    skinny_kernel(const XT* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
                  const float* __restrict__ addend, float* __restrict__ out, int m, int64_t n, int64_t k) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int g = lane / 4, t = lane % 4;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBlockRows;
  const T* w_lo = w + std::min<int64_t>(row0 + g, n - 1) * k;
  const T* w_hi = w + std::min<int64_t>(row0 + g + 8, n - 1) * k;
  const uint4 zero = make_uint4(0, 0, 0, 0);

  float acc[kTiles][4];
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
#pragma unroll
    for (int c = 0; c < 4; ++c)
      acc[i][c] = 0.0f;
  }

  // One tile (m <= 8): per step, the weight chunks, then x chunk by chunk into the mma. Two tiles: a software
  // pipeline one step deep for the weights (the next step's chunks are requested before this step's x loads
  // and mma instructions) and all x chunks of a step requested before the first mma. Measured on the H100
  // (tools/bench/matmul_cuda.cpp, bf16 x at m = 16): [6144 x 4096] 0.68 -> 0.79 of the copy bandwidth, LM
  // head 0.93 -> 0.99; the same pipeline at one tile, or x pipelined too (1 block per SM), was slower.
  const int64_t steps = (k + kStepK - 1) / kStepK;
  // The first weights are requested before the wait for the kernel that wrote x (dependent_launch.cuh).
  uint4 a_lo[kChunks], a_hi[kChunks];
  if constexpr (kTiles > 1) {
    load_w_step(w_lo, w_hi, warp, k, t, a_lo, a_hi);
    wait_for_prior_kernels();
    allow_dependent_launch();
  }
  for (int64_t s = warp; s < steps; s += kWarps) {
    const int64_t k0 = s * kStepK;
    if constexpr (kTiles == 1) {
      load_w_step(w_lo, w_hi, s, k, t, a_lo, a_hi);
      if (s == warp) {
        wait_for_prior_kernels();
        allow_dependent_launch();
      }
      const XT* xr = x + static_cast<int64_t>(std::min(g, m - 1)) * k;
#pragma unroll
      for (int j = 0; j < kChunks; ++j) {
        const int64_t kc = k0 + (j * 4 + t) * 8;
        const uint4 b = kc < k && g < m ? load_x_chunk<T>(xr + kc) : zero;
        mma_16x8x16<T>(acc[0], a_lo[j].x, a_hi[j].x, a_lo[j].y, a_hi[j].y, b.x, b.y);
        mma_16x8x16<T>(acc[0], a_lo[j].z, a_hi[j].z, a_lo[j].w, a_hi[j].w, b.z, b.w);
      }
    } else {
      uint4 next_lo[kChunks], next_hi[kChunks];
      load_w_step(w_lo, w_hi, s + kWarps, k, t, next_lo, next_hi);  // zeros past the last step
      uint4 b[kTiles][kChunks];
#pragma unroll
      for (int i = 0; i < kTiles; ++i) {
        const int xm = i * 8 + g;
        const XT* xr = x + static_cast<int64_t>(std::min(xm, m - 1)) * k;
#pragma unroll
        for (int j = 0; j < kChunks; ++j) {
          const int64_t kc = k0 + (j * 4 + t) * 8;
          b[i][j] = i * 8 < m && kc < k && xm < m ? load_x_chunk<T>(xr + kc) : zero;
        }
      }
#pragma unroll
      for (int i = 0; i < kTiles; ++i) {
        if (i * 8 >= m) break;  // the same for every thread
#pragma unroll
        for (int j = 0; j < kChunks; ++j) {
          mma_16x8x16<T>(acc[i], a_lo[j].x, a_hi[j].x, a_lo[j].y, a_hi[j].y, b[i][j].x, b[i][j].y);
          mma_16x8x16<T>(acc[i], a_lo[j].z, a_hi[j].z, a_lo[j].w, a_hi[j].w, b[i][j].z, b[i][j].w);
        }
      }
#pragma unroll
      for (int j = 0; j < kChunks; ++j) {
        a_lo[j] = next_lo[j];
        a_hi[j] = next_hi[j];
      }
    }
  }
  wait_for_prior_kernels();  // for warps that had no step (a no-op after the first wait)

  // Accumulator c of tile i at lane (g, t): w row g (c < 2) or g + 8, x row 8i + 2t + (c & 1).
  __shared__ float partial[kWarps][kTiles * 4][32];
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
#pragma unroll
    for (int c = 0; c < 4; ++c)
      partial[warp][i * 4 + c][lane] = acc[i][c];
  }
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < kTiles * 4 * 32; e += kThreads) {
    const int slot = e / 32, from = e % 32;
    const int i = slot / 4, c = slot % 4;
    const int xm = i * 8 + (from % 4) * 2 + (c & 1);
    const int64_t row = row0 + from / 4 + (c >= 2 ? 8 : 0);
    if (xm >= m || row >= n) continue;
    float sum = 0.0f;
#pragma unroll
    for (int wi = 0; wi < kWarps; ++wi)
      sum += partial[wi][slot][from];
    if (bias != nullptr) sum += bias[row];
    const int64_t at = static_cast<int64_t>(xm) * n + row;
    if (addend != nullptr) sum = addend[at] + sum;
    out[at] = sum;
  }
}

template <typename T, typename XT>
void launch_typed(CudaBackend& backend, const XT* x, const T* w, const float* bias, const float* addend,
                  float* out, int64_t m, int64_t n, int64_t k) {
  const dim3 grid(static_cast<unsigned>((n + kBlockRows - 1) / kBlockRows));
  const int mi = static_cast<int>(m);
  static_assert(kMaxTiles == 2);
  if (m <= 8) {
    launch_dependent(backend, "skinny_kernel", skinny_kernel<T, XT, 1>, grid, dim3(kThreads), 0, x, w, bias,
                     addend, out, mi, n, k);
  } else {
    launch_dependent(backend, "skinny_kernel", skinny_kernel<T, XT, 2>, grid, dim3(kThreads), 0, x, w, bias,
                     addend, out, mi, n, k);
  }
}

template <typename T>
void launch_for_x(CudaBackend& backend, const void* x, bool x_is_f32, const void* w, const float* bias,
                  const float* addend, float* out, int64_t m, int64_t n, int64_t k) {
  if (x_is_f32) {
    launch_typed(backend, static_cast<const float*>(x), static_cast<const T*>(w), bias, addend, out, m, n, k);
  } else {
    launch_typed(backend, static_cast<const T*>(x), static_cast<const T*>(w), bias, addend, out, m, n, k);
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

bool skinny_supports(DType w_dtype, const void* x, const void* w, int64_t m, int64_t k) {
  return (w_dtype == DType::kBF16 || w_dtype == DType::kF16) && m >= 1 && m <= kSkinnyMaxRows && k > 0 &&
         k % 8 == 0 && aligned16(x) && aligned16(w);
}

void launch_skinny(CudaBackend& backend, DType w_dtype, const void* x, bool x_is_f32, const void* w,
                   const float* bias, float* out, int64_t m, int64_t n, int64_t k, const float* addend) {
  if (n <= 0) return;
  if (w_dtype == DType::kBF16) {
    launch_for_x<__nv_bfloat16>(backend, x, x_is_f32, w, bias, addend, out, m, n, k);
  } else {
    launch_for_x<__half>(backend, x, x_is_f32, w, bias, addend, out, m, n, k);
  }
}

}  // namespace autoglm

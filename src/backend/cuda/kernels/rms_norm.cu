// RMSNorm, f32, CUDA: out = weight * (x * 1 / sqrt(mean(x^2) + eps)) row by row (HF Llama order).
//
// Layout: x and out are [rows, d] row-major (any leading dims flattened); weight is [d]. out is f32, or bf16
//   / f16 rounded to nearest-even (the input of a matmul over weights of that type). An f32 out may be x:
//   each element is read and written by the same thread, and all reads of the statistics pass end at the
//   group reduction, before any write. With a residual (the decoder's add fused in), the statistics pass
//   forms x + residual, writes it to sum_out and sums its squares; the scaling pass reads the sums back (each
//   element by the thread that wrote it): the bits of add then rms_norm, one launch and one pass fewer.
// Threading: a group of threads per row (row_reduce.cuh): one warp for d <= 1024 (eight rows per block of
//   256, so Qwen3's per-head q/k norms fill the GPU), 256 or 1024 threads for longer rows. Loads are float4
//   when d % 4 == 0 and x, weight, out are 16-byte aligned; scalar otherwise.
// Accumulation: per-thread f32 sums of squares, reduced by warp shuffles (and shared memory across warps);
//   the scale is applied in f32.
// Floor: 2 * rows * d * 4 bytes (read x, write out) / memory bandwidth; the second read of x and weight comes
//   from L1/L2.
// Reference: kernels/ref/rms_norm_ref.cpp through the CPU kernel (tests/cuda/test_rms_norm.cpp).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstring>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/row_reduce.cuh"
#include "ops/kernel_table.h"
#include "ops/rms_norm.h"

namespace autoglm {
namespace {

using namespace cuda_rows;

// out's element type: f32, or 16-bit rounded to nearest-even (the input of a 16-bit matmul).
__device__ __forceinline__ void store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}
__device__ __forceinline__ void store4(__nv_bfloat16* p, float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
  uint2 word;
  memcpy(&word.x, &lo, 4);
  memcpy(&word.y, &hi, 4);
  *reinterpret_cast<uint2*>(p) = word;
}
__device__ __forceinline__ void store4(__half* p, float4 v) {
  const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
  uint2 word;
  memcpy(&word.x, &lo, 4);
  memcpy(&word.y, &hi, 4);
  *reinterpret_cast<uint2*>(p) = word;
}
__device__ __forceinline__ void store1(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void store1(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void store1(__half* p, float v) {
  *p = __float2half_rn(v);
}

template <int kGroup, bool kVec, bool kAdd, typename OutT>
__global__ void __launch_bounds__(block_threads<kGroup>())
    rms_norm_kernel(const float* x, const float* residual, float* sum_out, const float* __restrict__ weight,
                    OutT* out, int64_t rows, int64_t d, float eps) {
  __shared__ float smem[block_threads<kGroup>() / kWarp];
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  int lane = 0;
  const int64_t row = group_row<kGroup>(rows, &lane);
  if (row < 0) return;
  // x and out (or x and sum_out) may be the same memory, so none is __restrict__. With kAdd the row is
  // x + residual, written to sum_out by the thread that later reads it back for the scaling pass.
  const float* xr = kAdd ? sum_out + row * d : x + row * d;
  OutT* yr = out + row * d;
  float sum_sq = 0.0f;
  if constexpr (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(x + row * d);
#pragma unroll 4
    for (int64_t i = lane; i < d / 4; i += kGroup) {
      float4 v = x4[i];
      if constexpr (kAdd) {
        const float4 r = reinterpret_cast<const float4*>(residual + row * d)[i];
        v = make_float4(v.x + r.x, v.y + r.y, v.z + r.z, v.w + r.w);
        reinterpret_cast<float4*>(sum_out + row * d)[i] = v;
      }
      sum_sq += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < d; i += kGroup) {
      float v = x[row * d + i];
      if constexpr (kAdd) {
        v = v + residual[row * d + i];
        sum_out[row * d + i] = v;
      }
      sum_sq += v * v;
    }
  }
  sum_sq = group_reduce<kGroup>(sum_sq, smem, Sum{});
  const float inv_rms = 1.0f / sqrtf(sum_sq / static_cast<float>(d) + eps);
  if constexpr (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    const float4* w4 = reinterpret_cast<const float4*>(weight);
#pragma unroll 4
    for (int64_t i = lane; i < d / 4; i += kGroup) {
      const float4 v = x4[i], w = w4[i];
      store4(yr + 4 * i, make_float4(w.x * (v.x * inv_rms), w.y * (v.y * inv_rms), w.z * (v.z * inv_rms),
                                     w.w * (v.w * inv_rms)));
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < d; i += kGroup)
      store1(yr + i, weight[i] * (xr[i] * inv_rms));
  }
}

template <bool kVec, bool kAdd, typename OutT>
void launch_typed(Backend& backend, const RmsNormArgs& a, int64_t rows, int64_t d) {
  const float* x = a.x.as<const float>();
  const float* w = a.weight.as<const float>();
  auto* out = static_cast<OutT*>(a.out.data);
  with_group_size(kVec ? d / 4 : d, [&]<int kGroup>() {
    cuda_kernels::launch_dependent(cuda_backend(backend), "rms_norm",
                                   rms_norm_kernel<kGroup, kVec, kAdd, OutT>, dim3(row_blocks<kGroup>(rows)),
                                   dim3(block_threads<kGroup>()), 0, x, a.residual.as<const float>(),
                                   a.sum_out.as<float>(), w, out, rows, d, a.eps);
  });
}

template <bool kVec, bool kAdd>
void launch(Backend& backend, const RmsNormArgs& a, int64_t rows, int64_t d) {
  if (a.out.dtype == DType::kBF16) {
    launch_typed<kVec, kAdd, __nv_bfloat16>(backend, a, rows, d);
  } else if (a.out.dtype == DType::kF16) {
    launch_typed<kVec, kAdd, __half>(backend, a, rows, d);
  } else {
    launch_typed<kVec, kAdd, float>(backend, a, rows, d);
  }
}

void rms_norm_cuda_f32(Backend& backend, const RmsNormArgs& a) {
  const int64_t d = a.x.shape.back();
  if (d == 0) return;  // before rows(), which divides by d
  const int64_t rows = a.x.shape.rows();
  if (rows == 0) return;
  const bool add = a.residual.data != nullptr;
  const bool vec = d % 4 == 0 && aligned16(a.x.data) && aligned16(a.weight.data) && aligned16(a.out.data) &&
                   (!add || (aligned16(a.residual.data) && aligned16(a.sum_out.data)));
  if (add) {
    vec ? launch<true, true>(backend, a, rows, d) : launch<false, true>(backend, a, rows, d);
  } else {
    vec ? launch<true, false>(backend, a, rows, d) : launch<false, false>(backend, a, rows, d);
  }
}

const KernelRegistrar<RmsNormArgs> kRegister(DeviceKind::kCuda, DType::kF32, rms_norm_cuda_f32);

}  // namespace
}  // namespace autoglm

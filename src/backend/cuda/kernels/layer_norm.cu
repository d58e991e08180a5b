// LayerNorm, f32, CUDA: out = (x - mean) / sqrt(var + eps) * weight (+ bias), biased variance as PyTorch.
//
// Layout: x and out are [rows, d] row-major (any leading dims flattened); weight and bias are [d]. out may be
//   x: each element is read and written by the same thread, and every read of x before the last reduction.
// Threading: a group of threads per row (row_reduce.cuh): a warp for d <= 1024, else 256 or 1024 threads.
//   float4 loads when d % 4 == 0 and every pointer is 16-byte aligned; scalar otherwise.
// Accumulation: f32, in two passes (mean, then squared deviations) as the CPU kernel, both on x - x[0] so a
//   large common offset does not swamp the f32 sums (x - x[0] is exact for values within a factor of two).
// Floor: 2 * rows * d * 4 bytes (read x, write out) / memory bandwidth; the re-reads of x hit L1/L2.
// Reference: kernels/ref/layer_norm_ref.cpp through the CPU kernel (tests/cuda/test_layer_norm.cpp).
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/row_reduce.cuh"
#include "ops/kernel_table.h"
#include "ops/layer_norm.h"

namespace autoglm {
namespace {

using namespace cuda_rows;

template <int kGroup, bool kVec, bool kBias>
__global__ void __launch_bounds__(block_threads<kGroup>())
    layer_norm_kernel(const float* x, const float* __restrict__ weight, const float* __restrict__ bias,
                      float* out, int64_t rows, int64_t d, float eps) {
  __shared__ float smem[block_threads<kGroup>() / kWarp];
  int lane = 0;
  const int64_t row = group_row<kGroup>(rows, &lane);
  if (row < 0) return;
  // x and out may be the same memory, so neither is __restrict__.
  const float* xr = x + row * d;
  float* yr = out + row * d;
  const float pivot = xr[0];
  const float4* x4 = reinterpret_cast<const float4*>(xr);

  float sum = 0.0f;
  if constexpr (kVec) {
#pragma unroll 4
    for (int64_t i = lane; i < d / 4; i += kGroup) {
      const float4 v = x4[i];
      sum += ((v.x - pivot) + (v.y - pivot)) + ((v.z - pivot) + (v.w - pivot));
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < d; i += kGroup)
      sum += xr[i] - pivot;
  }
  const float delta = group_reduce<kGroup>(sum, smem, Sum{}) / static_cast<float>(d);

  float sum_sq = 0.0f;
  if constexpr (kVec) {
#pragma unroll 4
    for (int64_t i = lane; i < d / 4; i += kGroup) {
      const float4 v = x4[i];
      const float a = (v.x - pivot) - delta, b = (v.y - pivot) - delta;
      const float c = (v.z - pivot) - delta, e = (v.w - pivot) - delta;
      sum_sq += (a * a + b * b) + (c * c + e * e);
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < d; i += kGroup) {
      const float dev = (xr[i] - pivot) - delta;
      sum_sq += dev * dev;
    }
  }
  const float var = group_reduce<kGroup>(sum_sq, smem, Sum{}) / static_cast<float>(d);
  const float inv_std = 1.0f / sqrtf(var + eps);

  if constexpr (kVec) {
    const float4* w4 = reinterpret_cast<const float4*>(weight);
    const float4* b4 = reinterpret_cast<const float4*>(bias);
    float4* y4 = reinterpret_cast<float4*>(yr);
#pragma unroll 4
    for (int64_t i = lane; i < d / 4; i += kGroup) {
      const float4 v = x4[i], w = w4[i];
      float4 y =
          make_float4(((v.x - pivot) - delta) * inv_std * w.x, ((v.y - pivot) - delta) * inv_std * w.y,
                      ((v.z - pivot) - delta) * inv_std * w.z, ((v.w - pivot) - delta) * inv_std * w.w);
      if constexpr (kBias) {
        const float4 b = b4[i];
        y.x += b.x;
        y.y += b.y;
        y.z += b.z;
        y.w += b.w;
      }
      y4[i] = y;
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < d; i += kGroup) {
      float y = ((xr[i] - pivot) - delta) * inv_std * weight[i];
      if constexpr (kBias) y += bias[i];
      yr[i] = y;
    }
  }
}

template <bool kVec, bool kBias>
void launch(Backend& backend, const LayerNormArgs& a, int64_t rows, int64_t d) {
  const float* x = a.x.as<const float>();
  const float* w = a.weight.as<const float>();
  const float* b = a.bias.as<const float>();
  float* out = a.out.as<float>();
  cudaStream_t stream = cuda_backend(backend).stream();
  with_group_size(kVec ? d / 4 : d, [&]<int kGroup>() {
    layer_norm_kernel<kGroup, kVec, kBias>
        <<<row_blocks<kGroup>(rows), block_threads<kGroup>(), 0, stream>>>(x, w, b, out, rows, d, a.eps);
  });
}

void layer_norm_cuda_f32(Backend& backend, const LayerNormArgs& a) {
  const int64_t d = a.x.shape.back();
  if (d == 0) return;  // before rows(), which divides by d
  const int64_t rows = a.x.shape.rows();
  if (rows == 0) return;
  const bool bias = a.bias.data != nullptr;
  const bool vec = d % 4 == 0 && aligned16(a.x.data) && aligned16(a.weight.data) && aligned16(a.out.data) &&
                   (!bias || aligned16(a.bias.data));
  if (vec) {
    bias ? launch<true, true>(backend, a, rows, d) : launch<true, false>(backend, a, rows, d);
  } else {
    bias ? launch<false, true>(backend, a, rows, d) : launch<false, false>(backend, a, rows, d);
  }
  cuda_backend(backend).note_launch("layer_norm");
}

const KernelRegistrar<LayerNormArgs> kRegister(DeviceKind::kCuda, DType::kF32, layer_norm_cuda_f32);

}  // namespace
}  // namespace autoglm

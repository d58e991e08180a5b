// Row-wise softmax, f32, CUDA: out = exp(x - max) / sum(exp(x - max)).
//
// Layout: x and out are [rows, c] row-major (leading dims flattened); out may be x: each element is read and
//   written by the same thread, after the reductions that read the whole row.
// Threading: a group of threads per row (row_reduce.cuh): a warp for c <= 1024, 256 threads up to 8192,
//   1024 beyond (sampling over a vocabulary of ~150k is one row). float4 loads when c % 4 == 0 and both
//   pointers are 16-byte aligned; scalar otherwise.
// Accumulation: three passes (max, sum of exps, scaled write) in f32 with the accurate expf (not __expf), so
//   each exp is within 2 ulp of the CPU's; the max subtraction keeps every exp in (0, 1]. A row of all -inf
//   gives NaN, as PyTorch and the CPU kernel.
// Floor: 2 * rows * c * 4 bytes / memory bandwidth (the re-reads hit L1/L2), plus 2 * rows * c expf.
// Reference: kernels/ref/softmax_ref.cpp through the CPU kernel (tests/cuda/test_softmax.cpp).
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/row_reduce.cuh"
#include "ops/kernel_table.h"
#include "ops/softmax.h"

namespace autoglm {
namespace {

using namespace cuda_rows;

template <int kGroup, bool kVec>
__global__ void __launch_bounds__(block_threads<kGroup>())
    softmax_kernel(const float* x, float* out, int64_t rows, int64_t c) {
  __shared__ float smem[block_threads<kGroup>() / kWarp];
  int lane = 0;
  const int64_t row = group_row<kGroup>(rows, &lane);
  if (row < 0) return;
  // x and out may be the same memory, so neither is __restrict__.
  const float* xr = x + row * c;
  float* yr = out + row * c;
  const float4* x4 = reinterpret_cast<const float4*>(xr);

  float m = Max::kIdentity;
  if constexpr (kVec) {
#pragma unroll 4
    for (int64_t i = lane; i < c / 4; i += kGroup) {
      const float4 v = x4[i];
      m = fmaxf(m, fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w)));
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < c; i += kGroup)
      m = fmaxf(m, xr[i]);
  }
  m = group_reduce<kGroup>(m, smem, Max{});

  float sum = 0.0f;
  if constexpr (kVec) {
#pragma unroll 4
    for (int64_t i = lane; i < c / 4; i += kGroup) {
      const float4 v = x4[i];
      sum += (expf(v.x - m) + expf(v.y - m)) + (expf(v.z - m) + expf(v.w - m));
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < c; i += kGroup)
      sum += expf(xr[i] - m);
  }
  const float inv_sum = 1.0f / group_reduce<kGroup>(sum, smem, Sum{});

  if constexpr (kVec) {
    float4* y4 = reinterpret_cast<float4*>(yr);
#pragma unroll 4
    for (int64_t i = lane; i < c / 4; i += kGroup) {
      const float4 v = x4[i];
      y4[i] = make_float4(expf(v.x - m) * inv_sum, expf(v.y - m) * inv_sum, expf(v.z - m) * inv_sum,
                          expf(v.w - m) * inv_sum);
    }
  } else {
#pragma unroll 4
    for (int64_t i = lane; i < c; i += kGroup)
      yr[i] = expf(xr[i] - m) * inv_sum;
  }
}

template <bool kVec>
void launch(Backend& backend, const SoftmaxArgs& a, int64_t rows, int64_t c) {
  const float* x = a.x.as<const float>();
  float* out = a.out.as<float>();
  cudaStream_t stream = cuda_backend(backend).stream();
  with_group_size(kVec ? c / 4 : c, [&]<int kGroup>() {
    softmax_kernel<kGroup, kVec>
        <<<row_blocks<kGroup>(rows), block_threads<kGroup>(), 0, stream>>>(x, out, rows, c);
  });
}

void softmax_cuda_f32(Backend& backend, const SoftmaxArgs& a) {
  const int64_t c = a.x.shape.back();
  if (c == 0) return;  // before rows(), which divides by c
  const int64_t rows = a.x.shape.rows();
  if (rows == 0) return;
  if (c % 4 == 0 && aligned16(a.x.data) && aligned16(a.out.data)) {
    launch<true>(backend, a, rows, c);
  } else {
    launch<false>(backend, a, rows, c);
  }
  cuda_backend(backend).note_launch("softmax");
}

const KernelRegistrar<SoftmaxArgs> kRegister(DeviceKind::kCuda, DType::kF32, softmax_cuda_f32);

}  // namespace
}  // namespace autoglm

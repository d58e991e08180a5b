// SwiGLU on a fused [gate | up] projection, f32, CUDA: out[r, i] = silu(x[r, i]) * x[r, f + i].
//
// Layout: x [rows, 2f] row-major, out [rows, f]; no aliasing (checked by the op).
// Threading: a flat grid-stride loop over the rows * f outputs, in float4 vectors when f % 4 == 0 and both
//   pointers are 16-byte aligned (then a vector never straddles a row), else one element per step.
// Accumulation: f32; silu(g) = g / (1 + expf(-g)) with the accurate expf, in the CPU kernel's order of
//   operations, so results agree within a few ulp; it saturates to g or -0 without overflow trouble.
// Floor: 3 * rows * f * 4 bytes (read gate and up, write out) / memory bandwidth.
// Reference: kernels/ref/swiglu_ref.cpp through the CPU kernel (tests/cuda/test_swiglu.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/kernel_table.h"
#include "ops/swiglu.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float swiglu1(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    swiglu_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t f, int64_t n) {
  // n counts vectors (of 4 when kVec); fv is the number of them per output row.
  constexpr int kWidth = kVec ? 4 : 1;
  const int64_t fv = f / kWidth;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const int64_t r = j / fv, c = j % fv;
    if constexpr (kVec) {
      const float4* row = reinterpret_cast<const float4*>(x + r * 2 * f);
      const float4 g = row[c], u = row[fv + c];
      reinterpret_cast<float4*>(out)[j] =
          make_float4(swiglu1(g.x, u.x), swiglu1(g.y, u.y), swiglu1(g.z, u.z), swiglu1(g.w, u.w));
    } else {
      const float* row = x + r * 2 * f;
      out[j] = swiglu1(row[c], row[f + c]);
    }
  }
}

void swiglu_cuda_f32(Backend& backend, const SwigluArgs& a) {
  const int64_t rows = a.x.shape[0], f = a.out.shape[1];
  if (rows == 0 || f == 0) return;
  CudaBackend& cuda = cuda_backend(backend);
  const bool vec = f % 4 == 0 && reinterpret_cast<uintptr_t>(a.x.data) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(a.out.data) % 16 == 0;
  const int64_t n = rows * f / (vec ? 4 : 1);
  const int64_t max_blocks = static_cast<int64_t>(cuda.properties().multiProcessorCount) * 16;
  const auto blocks =
      static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, max_blocks));
  if (vec) {
    swiglu_kernel<true>
        <<<blocks, kThreads, 0, cuda.stream()>>>(a.x.as<const float>(), a.out.as<float>(), f, n);
  } else {
    swiglu_kernel<false>
        <<<blocks, kThreads, 0, cuda.stream()>>>(a.x.as<const float>(), a.out.as<float>(), f, n);
  }
  cuda.note_launch("swiglu");
}

const KernelRegistrar<SwigluArgs> kRegister(DeviceKind::kCuda, DType::kF32, swiglu_cuda_f32);

}  // namespace
}  // namespace autoglm

// Elementwise add, f32, CUDA: out = a + b (residual connections).
//
// Layout: any shape, contiguous; out may be a or b (each element is read by the thread that writes it).
// Threading: a flat grid-stride loop; float4 vectors over the first n / 4 * 4 elements when a, b and out are
//   16-byte aligned, then a scalar tail (and a scalar loop over everything when they are not aligned).
// Accumulation: f32, one add per element, so the result equals the CPU's bit for bit.
// Floor: 3 * n * 4 bytes / memory bandwidth.
// Reference: kernels/ref/add_ref.cpp through the CPU kernel (tests/cuda/test_add.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/add.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

// a, b and out may be the same memory, so none is __restrict__.
template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    add_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t scalar_begin = 0;
  if constexpr (kVec) {
    const int64_t n4 = n / 4;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (int64_t j = first; j < n4; j += stride) {
      const float4 x = a4[j], y = b4[j];
      o4[j] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
    }
    scalar_begin = n4 * 4;
  }
  for (int64_t i = scalar_begin + first; i < n; i += stride)
    out[i] = a[i] + b[i];
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

void add_cuda_f32(Backend& backend, const AddArgs& args) {
  const int64_t n = args.a.numel();
  if (n == 0) return;
  CudaBackend& cuda = cuda_backend(backend);
  const bool vec = aligned16(args.a.data) && aligned16(args.b.data) && aligned16(args.out.data);
  const int64_t work = vec ? std::max<int64_t>(n / 4, n % 4) : n;
  const int64_t max_blocks = static_cast<int64_t>(cuda.properties().multiProcessorCount) * 16;
  const auto blocks =
      static_cast<unsigned>(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, max_blocks));
  const float* a = args.a.as<const float>();
  const float* b = args.b.as<const float>();
  float* out = args.out.as<float>();
  if (vec) {
    add_kernel<true><<<blocks, kThreads, 0, cuda.stream()>>>(a, b, out, n);
  } else {
    add_kernel<false><<<blocks, kThreads, 0, cuda.stream()>>>(a, b, out, n);
  }
  cuda.note_launch("add");
}

const KernelRegistrar<AddArgs> kRegister(DeviceKind::kCuda, DType::kF32, add_cuda_f32);

}  // namespace
}  // namespace autoglm

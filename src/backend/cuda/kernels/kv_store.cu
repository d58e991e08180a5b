// kv_store, CUDA: writes the K or V rows of new tokens into cache rows [start, start + t).
//
// Layout: src [t, kv_heads, head_dim] and cache [capacity, kv_heads, head_dim], both contiguous, so the rows
//   are one contiguous range on each side.
// Same dtype (f32, f16 or bf16): a single cudaMemcpyAsync device-to-device on the backend's stream (the copy
//   engine or the driver's copy kernel; either runs at bandwidth), ordered with the kernels around it.
// f32 src into a bf16 or f16 cache: kv_store_convert_kernel, a grid-stride loop of one element per thread
//   and step, rounding to nearest even with the host's own functions (core/half.h), so a GPU-written cache is
//   bit-identical to a CPU-written one (NaN payloads included).
// Floor: t * row bytes read + written / memory bandwidth (decode stores one row: launch-bound either way).
// Reference: the CPU kv_store (kernels/attention.cpp) on host copies (tests/cuda/test_kv_store.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int kConvertThreads = 256;
constexpr int64_t kConvertMaxBlocks = 4096;

template <bool kToBf16>
__global__ void __launch_bounds__(kConvertThreads)
    kv_store_convert_kernel(const float* __restrict__ src, uint16_t* __restrict__ dst, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * kConvertThreads;
  for (int64_t i = int64_t{blockIdx.x} * kConvertThreads + threadIdx.x; i < n; i += stride)
    dst[i] = kToBf16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}

void kv_store_cuda(Backend& backend, const KvStoreArgs& a) {
  const int64_t t = a.src.shape[0], row_elems = a.src.shape[1] * a.src.shape[2];
  if (t == 0 || row_elems == 0) return;
  CudaBackend& cuda = cuda_backend(backend);
  const size_t row_bytes = static_cast<size_t>(row_elems) * dtype_size(a.cache.dtype);
  auto* dst = static_cast<uint8_t*>(a.cache.data) + static_cast<size_t>(a.start) * row_bytes;
  if (a.src.dtype == a.cache.dtype) {
    // A failure sets the thread's last error, which note_launch records for the next synchronize().
    (void)cudaMemcpyAsync(dst, a.src.data, a.src.nbytes(), cudaMemcpyDeviceToDevice, cuda.stream());
    cuda.note_launch("kv_store");
    return;
  }
  // f32 into bf16 / f16 (the op admits no other conversion).
  const int64_t n = t * row_elems;
  const auto blocks =
      static_cast<unsigned>(std::min(kConvertMaxBlocks, (n + kConvertThreads - 1) / kConvertThreads));
  const float* src = a.src.as<const float>();
  auto* out = reinterpret_cast<uint16_t*>(dst);
  if (a.cache.dtype == DType::kBF16) {
    kv_store_convert_kernel<true><<<blocks, kConvertThreads, 0, cuda.stream()>>>(src, out, n);
  } else {
    kv_store_convert_kernel<false><<<blocks, kConvertThreads, 0, cuda.stream()>>>(src, out, n);
  }
  cuda.note_launch("kv_store_convert_kernel");
}

const KernelRegistrar<KvStoreArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32, kv_store_cuda);
const KernelRegistrar<KvStoreArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16, kv_store_cuda);
const KernelRegistrar<KvStoreArgs> kRegisterBf16(DeviceKind::kCuda, DType::kBF16, kv_store_cuda);

}  // namespace
}  // namespace autoglm

// kv_store, CUDA: writes the K or V rows of new tokens into cache rows [start, start + t).
//
// Layout: src [t, kv_heads, head_dim] and cache [capacity, kv_heads, head_dim] of one dtype (f32, f16 or
//   bf16), both contiguous, so the rows are one contiguous byte range on each side.
// Threading: a single cudaMemcpyAsync device-to-device on the backend's stream (the copy engine or the
//   driver's copy kernel; either runs at bandwidth), ordered with the kernels around it; no kernel of ours.
// Floor: 2 * t * row bytes / memory bandwidth.
// Reference: the CPU kv_store (kernels/attention.cpp) on host copies (tests/cuda/test_kv_store.cpp).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

void kv_store_cuda(Backend& backend, const KvStoreArgs& a) {
  const int64_t t = a.src.shape[0];
  const size_t bytes = a.src.nbytes();
  if (t == 0 || bytes == 0) return;
  const size_t row_bytes = bytes / static_cast<size_t>(t);
  CudaBackend& cuda = cuda_backend(backend);
  auto* dst = static_cast<uint8_t*>(a.cache.data) + static_cast<size_t>(a.start) * row_bytes;
  // A failure sets the thread's last error, which note_launch records for the next synchronize().
  (void)cudaMemcpyAsync(dst, a.src.data, bytes, cudaMemcpyDeviceToDevice, cuda.stream());
  cuda.note_launch("kv_store");
}

const KernelRegistrar<KvStoreArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32, kv_store_cuda);
const KernelRegistrar<KvStoreArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16, kv_store_cuda);
const KernelRegistrar<KvStoreArgs> kRegisterBf16(DeviceKind::kCuda, DType::kBF16, kv_store_cuda);

}  // namespace
}  // namespace autoglm

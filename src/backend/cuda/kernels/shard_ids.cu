// Token ids into a vocab-parallel rank's embedding rows, CUDA (ops/shard_ids.h): one thread per id.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "ops/kernel_table.h"
#include "ops/shard_ids.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__global__ void shard_ids_kernel(const int32_t* ids, int32_t* out, int64_t n, int64_t begin, int64_t end) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n) return;
  const int64_t id = ids[i];
  out[i] = static_cast<int32_t>(id >= begin && id < end ? id - begin : end - begin);
}

void shard_ids_cuda(Backend& backend, const ShardIdsArgs& a) {
  const int64_t n = a.ids.shape[0];
  CudaBackend& cuda = cuda_backend(backend);
  shard_ids_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, cuda.stream()>>>(
      a.ids.as<const int32_t>(), a.out.as<int32_t>(), n, a.begin, a.end);
  cuda.note_launch("shard_ids");
}

const KernelRegistrar<ShardIdsArgs> kRegister(DeviceKind::kCuda, DType::kI32, shard_ids_cuda);

}  // namespace
}  // namespace autoglm

// Pending step inputs from an earlier step's sampled ids, CUDA (ops/fill_pending_tokens.h): one thread per
// input id, queued between the upload of a step's inputs and its forward pass, so no host round trip
// separates two steps.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "ops/fill_pending_tokens.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__global__ void fill_pending_tokens_kernel(int32_t* __restrict__ ids, const int32_t* __restrict__ choices,
                                           int64_t n, int64_t m) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n || ids[i] >= 0) return;
  const int64_t row = -1 - static_cast<int64_t>(ids[i]);
  ids[i] = row < m ? choices[row] : 0;
}

void fill_pending_tokens_cuda(Backend& backend, const FillPendingTokensArgs& a) {
  const int64_t n = a.ids.shape[0];
  CudaBackend& cuda = cuda_backend(backend);
  fill_pending_tokens_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0,
                               cuda.stream()>>>(a.ids.as<int32_t>(), a.choices.as<const int32_t>(), n,
                                                a.choices.shape[0]);
  cuda.note_launch("fill_pending_tokens");
}

const KernelRegistrar<FillPendingTokensArgs> kRegister(DeviceKind::kCuda, DType::kI32,
                                                       fill_pending_tokens_cuda);

}  // namespace
}  // namespace autoglm

#include "sm_holder.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace autoglm::bench {
namespace {

void ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

__global__ void hold(volatile int* flags) {
  if (threadIdx.x != 0) return;
  atomicAdd_system(const_cast<int*>(flags + 1), 1);  // host-mapped: a system-scope atomic
  __threadfence_system();
  while (flags[0] == 0)
    __nanosleep(20000);
}

}  // namespace

SmHolder::SmHolder(int sms) {
  int device = 0, smem = 0, count = 0;
  ok(cudaGetDevice(&device), "device");
  ok(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "SM count");
  sms_ = sms < count - 1 ? sms : count - 1;
  if (sms_ <= 0) {
    sms_ = 0;
    return;
  }
  ok(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "smem");
  ok(cudaFuncSetAttribute(hold, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "smem attribute");
  ok(cudaHostAlloc(reinterpret_cast<void**>(&flags_), 2 * sizeof(int), cudaHostAllocMapped), "flags");
  flags_[0] = flags_[1] = 0;
  int* dev_flags = nullptr;
  ok(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev_flags), flags_, 0), "flags pointer");
  cudaStream_t s = nullptr;
  ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  stream_ = s;
  hold<<<sms_, 32, static_cast<size_t>(smem), s>>>(dev_flags);
  ok(cudaGetLastError(), "hold");
  while (reinterpret_cast<volatile int*>(flags_)[1] < sms_) {
  }
}

SmHolder::~SmHolder() {
  if (sms_ <= 0) return;
  reinterpret_cast<volatile int*>(flags_)[0] = 1;
  ok(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)), "release");
  cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  cudaFreeHost(flags_);
}

}  // namespace autoglm::bench

// A 16-byte global load that bypasses L1 allocation, for weights streamed once per call (the GEMV and the
// skinny GEMM): it keeps the small, reused x resident in L1. Private to kernels/.
#pragma once

#include <cuda_runtime.h>

namespace autoglm::cuda_kernels {

__device__ __forceinline__ uint4 load_streaming(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

}  // namespace autoglm::cuda_kernels

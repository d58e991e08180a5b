// Hopper's bulk copies (cp.async.bulk, the Tensor Memory Accelerator's one-dimensional form) and the shared-
// memory transaction barriers (mbarrier) that count their bytes. Private to kernels/.
//
// Why: a cp.async copy moves 16 bytes per lane, each with its own address arithmetic and issue slot; one bulk
//   copy moves a whole contiguous row (here a 256-byte K or V row) on the copy unit's own path, and the
//   consumer waits on one barrier instead of each lane's copy groups. Everything here exists from sm_90 on:
//   callers test AUTOGLM_BULK_COPY_ARCH (the device pass of an sm_90+ target) and keep their cp.async path
//   for older ones.
#pragma once

#include <cstdint>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define AUTOGLM_BULK_COPY_ARCH 1
#else
#define AUTOGLM_BULK_COPY_ARCH 0
#endif

namespace autoglm::bulk_copy {

#if AUTOGLM_BULK_COPY_ARCH

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// A barrier expecting `arrivals` arrivals per phase (and the bytes announced with them).
__device__ __forceinline__ void barrier_init(uint64_t* bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(bar)), "r"(arrivals)
               : "memory");
}

// Makes initialized barriers visible to the copy unit (the async proxy); before the first copy names them.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// Orders this thread's earlier ordinary shared-memory writes (stores, cp.async) before the async proxy's
// later use of that memory: bulk copies into it, or (after a barrier) the tensor cores' wgmma reads of it.
__device__ __forceinline__ void fence_shared_for_async_proxy() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// One arrival that also announces `bytes` more bytes the phase waits for.
__device__ __forceinline__ void arrive_expecting(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(bar)),
               "r"(bytes)
               : "memory");
}

// Returns once the barrier's phase of the given parity (0 for its 1st, 3rd, ... phase) has completed.
__device__ __forceinline__ void wait_phase(uint64_t* bar, uint32_t parity) {
  const uint32_t addr = shared_address(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(addr), "r"(parity)
        : "memory");
  } while (done == 0);
}

// `bytes` (a multiple of 16; both addresses 16-byte aligned) from global to this block's shared memory,
// counted on `bar` when they have landed.
__device__ __forceinline__ void copy_to_shared(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
          shared_address(dst)),
      "l"(src), "r"(bytes), "r"(shared_address(bar))
      : "memory");
}

#endif  // AUTOGLM_BULK_COPY_ARCH

}  // namespace autoglm::bulk_copy

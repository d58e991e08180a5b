// Hopper's bulk copies (cp.async.bulk: the Tensor Memory Accelerator's one-dimensional form, and its tensor
// form over a tensor map, alone or multicast to a cluster), the shared-memory transaction barriers (mbarrier)
// that count their bytes, and the cluster pieces those need (rank, barrier, arrivals on a peer's barrier).
// Private to kernels/.
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

// Tensor copies (cp.async.bulk.tensor): a box of a 2-D tensor map (innermost coordinate first) into shared
// memory, laid out and swizzled as the map says, counted on `bar`. Rows outside the tensor land as zeros.
__device__ __forceinline__ void copy_tile_to_shared(void* dst, const void* map, int32_t inner, int32_t outer,
                                                    uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], "
      "[%2];\n" ::"r"(shared_address(dst)),
      "l"(map), "r"(shared_address(bar)), "r"(inner), "r"(outer)
      : "memory");
}

// The same from a 3-D tensor map (coordinates innermost first).
__device__ __forceinline__ void copy_box3_to_shared(void* dst, const void* map, int32_t c0, int32_t c1,
                                                    int32_t c2, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(shared_address(dst)),
      "l"(map), "r"(shared_address(bar)), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

// The same from a 4-D tensor map.
__device__ __forceinline__ void copy_box4_to_shared(void* dst, const void* map, int32_t c0, int32_t c1,
                                                    int32_t c2, int32_t c3, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, "
      "%6}], "
      "[%2];\n" ::"r"(shared_address(dst)),
      "l"(map), "r"(shared_address(bar)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}

// The same box landed at the same shared-memory offset in every block of the cluster named in `blocks` (a bit
// per block rank), each counting it on its own barrier at `bar`'s offset.
__device__ __forceinline__ void copy_tile_to_cluster(void* dst, const void* map, int32_t inner, int32_t outer,
                                                     uint64_t* bar, uint16_t blocks) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], "
      "[%1, {%4, %5}], [%2], %3;\n" ::"r"(shared_address(dst)),
      "l"(map), "r"(shared_address(bar)), "h"(blocks), "r"(inner), "r"(outer)
      : "memory");
}

// A box of this block's shared memory (laid out and swizzled as the map says) out to the tensor at (inner,
// outer), innermost coordinate first; the part of the box outside the tensor is not written. Asynchronous:
// commit_stores() closes a group of them, wait_stores_read() / wait_stores() wait for the groups.
__device__ __forceinline__ void store_tile_from_shared(const void* map, int32_t inner, int32_t outer,
                                                       const void* src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n" ::"l"(map),
               "r"(shared_address(src)), "r"(inner), "r"(outer)
               : "memory");
}

__device__ __forceinline__ void commit_stores() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

// Returns once this thread's committed store groups have read their shared memory (it may be written again).
__device__ __forceinline__ void wait_stores_read() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}

// Returns once this thread's committed store groups have written global memory.
__device__ __forceinline__ void wait_stores() {
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}

// This block's rank in its cluster.
__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}

// Every thread of every block of the cluster: returns once all have arrived (shared-memory writes and
// barrier initializations before it are visible cluster-wide after it).
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

// One arrival on the barrier at `bar`'s offset in the shared memory of cluster block `rank` (this one too).
// Plain (release at the block's scope): what it orders are the caller's reads of the stage, finished by then.
__device__ __forceinline__ void arrive_in_cluster(uint64_t* bar, uint32_t rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(shared_address(bar)), "r"(rank));
  asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}

#endif  // AUTOGLM_BULK_COPY_ARCH

}  // namespace autoglm::bulk_copy

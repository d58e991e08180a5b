// A caching allocator of device memory for the CUDA backend.
//
// Why: cudaMalloc and cudaFree are slow (tens of microseconds to milliseconds) and cudaFree synchronizes the
// device, so a decode loop that allocated its per-step tensors straight from the driver would stall on every
// step. Freed blocks therefore go to a cache and serve later requests of a similar size; cudaMalloc runs only
// on a miss, so after the first step the loop allocates nothing from the driver.
//
// Why host-side free is safe: the backend has one stream. A block released here while kernels queued on that
// stream may still read or write it can only be handed to a later request whose work is queued behind those
// kernels on the same stream, so the stream orders the old use before the new one. Work on another stream
// would need events; there is none.
//
// Sizes: requests up to kSmallLimit round up to kSmallGranularity (512 bytes), larger ones to
// kLargeGranularity (2 MiB), so blocks fall into few size classes. A cached block serves a request when it is
// at least the rounded size and at most twice it (best fit: the smallest such block), which bounds the waste
// at half a block. A zero-byte request gets a block of its own (a unique, valid pointer).
// Out of memory: when cudaMalloc fails, every cached block is returned to the driver (after the device is
// idle) and the cudaMalloc is tried once more.
// Threading: every method takes the mutex, so Tensors may die on any thread.
// Lifetime: Tensors keep the shared Pool alive through their deleter, so a Tensor may outlive the allocator
// (and the backend); its block is then returned to the driver directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/status.h"

namespace autoglm {

struct CudaAllocatorStats {
  size_t in_use_bytes = 0;       // bytes of blocks handed out and not yet released
  size_t cached_bytes = 0;       // bytes of free blocks kept for reuse
  size_t peak_in_use_bytes = 0;  // largest in_use_bytes seen
  uint64_t n_cuda_malloc = 0;    // cudaMalloc calls that succeeded (misses of the cache)
};

class CudaAllocator {
 public:
  static constexpr size_t kSmallGranularity = 512;
  static constexpr size_t kSmallLimit = size_t{1} << 20;
  static constexpr size_t kLargeGranularity = size_t{2} << 20;

  // Device memory on GPU device_index (made current around cudaMalloc calls only).
  explicit CudaAllocator(int device_index);
  // Returns the cached blocks to the driver; blocks still in use are freed when their Tensors die.
  ~CudaAllocator();
  CudaAllocator(const CudaAllocator&) = delete;
  CudaAllocator& operator=(const CudaAllocator&) = delete;

  // A block of at least `bytes`; kResourceExhausted when the device has no room even after the cache is
  // emptied.
  Expected<void*> allocate(size_t bytes);
  // Returns a block from allocate() to the cache.
  void release(void* ptr);
  // A shared_ptr deleter that releases into this allocator's pool (valid after the allocator dies).
  std::shared_ptr<void> adopt(void* ptr);

  // Returns every cached block to the driver (waits for the device first).
  void release_cached();
  CudaAllocatorStats stats() const;

  // The block size a request of `bytes` is rounded to (0 for a request too large to round).
  static size_t round_size(size_t bytes);

 private:
  struct Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace autoglm

#include "backend/cuda/cuda_allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string>

namespace autoglm {

// The state shared by the allocator and the deleters of the Tensors it served.
struct CudaAllocator::Pool {
  explicit Pool(int device) : device_index(device) {}

  int device_index;
  mutable std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // cached blocks by size
  std::unordered_map<void*, size_t> in_use;  // handed-out blocks and their sizes
  bool closed = false;                       // the allocator died: released blocks go to the driver
  CudaAllocatorStats stats;

  // cudaMalloc on this pool's device, restoring the caller's current device. Caller holds the mutex.
  cudaError_t device_malloc(void** ptr, size_t bytes) {
    int previous = -1;
    if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
    if (previous != device_index) cudaSetDevice(device_index);
    const cudaError_t error = cudaMalloc(ptr, bytes);
    // A failed cudaMalloc also sets the thread's last error, which the next note_launch would otherwise
    // report as a failed kernel: the failure is returned here instead.
    if (error != cudaSuccess) cudaGetLastError();
    if (previous >= 0 && previous != device_index) cudaSetDevice(previous);
    return error;
  }

  // Frees every cached block. Caller holds the mutex.
  void free_cached_locked() {
    if (free_blocks.empty()) return;
    // Queued work may still use a cached block (see the header): let it finish before the driver reuses it.
    cudaDeviceSynchronize();
    for (const auto& [size, ptr] : free_blocks)
      cudaFree(ptr);
    stats.cached_bytes = 0;
    free_blocks.clear();
  }

  void release(void* ptr) {
    if (ptr == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = in_use.find(ptr);
    if (it == in_use.end()) return;  // not ours; never happens through Tensor deleters
    const size_t size = it->second;
    in_use.erase(it);
    stats.in_use_bytes -= size;
    if (closed) {
      cudaFree(ptr);
      return;
    }
    free_blocks.emplace(size, ptr);
    stats.cached_bytes += size;
  }
};

namespace {

size_t round_up(size_t bytes, size_t granularity) {
  if (bytes > std::numeric_limits<size_t>::max() - granularity) return 0;
  return (bytes + granularity - 1) / granularity * granularity;
}

std::string mib(size_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

}  // namespace

CudaAllocator::CudaAllocator(int device_index) : pool_(std::make_shared<Pool>(device_index)) {}

CudaAllocator::~CudaAllocator() {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  pool_->free_cached_locked();
  pool_->closed = true;
}

size_t CudaAllocator::round_size(size_t bytes) {
  if (bytes == 0) return kSmallGranularity;
  return bytes <= kSmallLimit ? round_up(bytes, kSmallGranularity) : round_up(bytes, kLargeGranularity);
}

Expected<void*> CudaAllocator::allocate(size_t bytes) {
  const size_t rounded = round_size(bytes);
  if (rounded == 0) {
    return resource_exhausted("cuda: cannot allocate " + std::to_string(bytes) + " bytes of device memory");
  }
  Pool& p = *pool_;
  std::lock_guard<std::mutex> lock(p.mutex);
  // Best fit: the smallest cached block that holds the request and wastes at most half of itself.
  auto it = p.free_blocks.lower_bound(rounded);
  if (it != p.free_blocks.end() && it->first / 2 <= rounded) {
    const auto [size, ptr] = *it;
    p.free_blocks.erase(it);
    p.stats.cached_bytes -= size;
    p.in_use.emplace(ptr, size);
    p.stats.in_use_bytes += size;
    p.stats.peak_in_use_bytes = std::max(p.stats.peak_in_use_bytes, p.stats.in_use_bytes);
    return ptr;
  }
  void* ptr = nullptr;
  cudaError_t error = p.device_malloc(&ptr, rounded);
  if (error == cudaErrorMemoryAllocation && !p.free_blocks.empty()) {
    p.free_cached_locked();
    error = p.device_malloc(&ptr, rounded);
  }
  if (error != cudaSuccess) {
    return resource_exhausted("cuda: cannot allocate " + std::to_string(bytes) + " bytes (" + mib(rounded) +
                              " rounded) of device memory on GPU " + std::to_string(p.device_index) +
                              " with " + mib(p.stats.in_use_bytes) + " in use: " + cudaGetErrorName(error) +
                              " (" + cudaGetErrorString(error) + ")");
  }
  ++p.stats.n_cuda_malloc;
  p.in_use.emplace(ptr, rounded);
  p.stats.in_use_bytes += rounded;
  p.stats.peak_in_use_bytes = std::max(p.stats.peak_in_use_bytes, p.stats.in_use_bytes);
  return ptr;
}

void CudaAllocator::release(void* ptr) {
  pool_->release(ptr);
}

std::shared_ptr<void> CudaAllocator::adopt(void* ptr) {
  return std::shared_ptr<void>(ptr, [pool = pool_](void* p) { pool->release(p); });
}

void CudaAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  pool_->free_cached_locked();
}

CudaAllocatorStats CudaAllocator::stats() const {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  return pool_->stats;
}

}  // namespace autoglm

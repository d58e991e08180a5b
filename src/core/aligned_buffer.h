// Owning, 64-byte aligned, uninitialized byte buffer: SIMD loads never straddle cache lines at its start.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace autoglm {

constexpr size_t kBufferAlignment = 64;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

using AlignedPtr = std::unique_ptr<void, FreeDeleter>;

// Returns nullptr when bytes cannot be allocated; zero bytes gives a valid, unique pointer.
//
// Buffers of 2 MiB and more start on a 2 MiB boundary and ask the kernel for transparent huge pages over
// their whole 2 MiB pages (Linux, where THP is in "madvise" mode by default): a CPU decode step streams
// every weight once, and with 4 KiB pages that is a TLB miss, and a restart of the hardware prefetchers'
// stream, every 4 KiB (measured on a 1.1B-parameter Q4_K model: 0.85-0.92 of the read floor on 4 KiB
// pages, 0.91-0.99 on huge pages). The tail short of a whole huge page keeps small pages, so no memory is
// added.
inline AlignedPtr aligned_alloc_bytes(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
#if defined(__linux__)
  constexpr size_t kHugePage = size_t{2} << 20;
  if (bytes >= kHugePage) {
    void* p = nullptr;
    if (posix_memalign(&p, kHugePage, rounded) != 0) return AlignedPtr(nullptr);
    madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice only: failure changes nothing
    return AlignedPtr(p);
  }
#endif
  return AlignedPtr(std::aligned_alloc(kBufferAlignment, rounded == 0 ? kBufferAlignment : rounded));
}

}  // namespace autoglm

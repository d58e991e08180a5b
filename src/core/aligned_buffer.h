// Owning, 64-byte aligned, uninitialized byte buffer: SIMD loads never straddle cache lines at its start.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace autoglm {

constexpr size_t kBufferAlignment = 64;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

using AlignedPtr = std::unique_ptr<void, FreeDeleter>;

// Returns nullptr when bytes cannot be allocated; zero bytes gives a valid, unique pointer.
inline AlignedPtr aligned_alloc_bytes(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  return AlignedPtr(std::aligned_alloc(kBufferAlignment, rounded == 0 ? kBufferAlignment : rounded));
}

}  // namespace autoglm

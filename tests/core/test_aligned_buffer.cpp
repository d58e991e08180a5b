// aligned_alloc_bytes: 64-byte alignment always, huge-page alignment for buffers of 2 MiB and more, and
// every byte of a large buffer usable.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "core/aligned_buffer.h"

namespace autoglm {
namespace {

uintptr_t address(const AlignedPtr& p) {
  return reinterpret_cast<uintptr_t>(p.get());
}

TEST(AlignedBuffer, SmallBuffersAre64ByteAligned) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{63}, size_t{4096}, (size_t{2} << 20) - 1}) {
    const AlignedPtr p = aligned_alloc_bytes(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(address(p) % kBufferAlignment, 0u) << bytes;
  }
}

TEST(AlignedBuffer, LargeBuffersStartOnAHugePageAndAreFullyWritable) {
  for (size_t bytes : {size_t{2} << 20, (size_t{5} << 20) + 17}) {
    AlignedPtr p = aligned_alloc_bytes(bytes);
    ASSERT_NE(p, nullptr) << bytes;
#if defined(__linux__)
    EXPECT_EQ(address(p) % (size_t{2} << 20), 0u) << bytes;
#endif
    EXPECT_EQ(address(p) % kBufferAlignment, 0u) << bytes;
    std::memset(p.get(), 0x5a, bytes);
    EXPECT_EQ(static_cast<const uint8_t*>(p.get())[bytes - 1], 0x5a);
  }
}

}  // namespace
}  // namespace autoglm

// Output buffers for kernel tests: poisoned with NaN inside, guarded by sentinel NaNs on both sides, so a
// test sees both an element the kernel skipped and a write past either end.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "support/test_data.h"
#include "tensor/tensor.h"

namespace autoglm::test {

constexpr int64_t kGuard = 32;
constexpr uint32_t kSentinelBits = 0x7fc0dead;  // guards: a NaN no kernel produces
constexpr uint32_t kPoisonBits = 0xffc0beef;    // left in any output element the kernel skips

inline uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

inline float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// An f32 output poisoned with NaN between kGuard sentinels on each side.
class GuardedOut {
 public:
  explicit GuardedOut(Shape shape)
      : numel_(shape.numel()), storage_(static_cast<size_t>(numel_ + 2 * kGuard), from_bits(kSentinelBits)) {
    std::fill(storage_.begin() + kGuard, storage_.end() - kGuard, from_bits(kPoisonBits));
    view_ = TensorView{storage_.data() + kGuard, DType::kF32, shape, Device{}};
  }
  const TensorView& view() const { return view_; }
  std::vector<float> values() const { return to_f32(view_); }
  void expect_clean() const {
    for (int64_t i = 0; i < kGuard; ++i) {
      ASSERT_EQ(bits_of(storage_[i]), kSentinelBits) << "guard before the output written at " << i;
      ASSERT_EQ(bits_of(storage_[kGuard + numel_ + i]), kSentinelBits)
          << "guard after the output written at " << i;
    }
    for (int64_t i = 0; i < numel_; ++i)
      ASSERT_TRUE(std::isfinite(storage_[kGuard + i])) << "output element " << i;
  }

 private:
  int64_t numel_;
  std::vector<float> storage_;
  TensorView view_;
};

// A CPU backend with n_threads threads (the caller included).
inline std::unique_ptr<Backend> make_cpu(int n_threads = 2) {
  auto backend = create_backend("cpu", {.n_threads = n_threads});
  EXPECT_TRUE(backend.has_value()) << backend.status().to_string();
  return std::move(backend).value();
}

}  // namespace autoglm::test

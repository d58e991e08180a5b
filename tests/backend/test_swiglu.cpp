// swiglu on the CPU backend against its reference (kernels/ref/swiglu_ref.cpp) on odd sizes, a single wide
// row split across threads, hand-computed values of silu(x) = x / (1 + exp(-x)), extremes, error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/swiglu_ref.h"
#include "ops/swiglu.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::random_tensor;
using test::rel_max_abs_error;

constexpr double kTolerance = 1e-5;
using test::GuardedOut;
using test::make_cpu;

std::vector<float> reference(SwigluArgs args) {
  std::vector<float> want(static_cast<size_t>(args.out.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.out.shape, Device{}};
  swiglu_ref(args);
  return want;
}

class SwigluSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(SwigluSizes, MatchesReference) {
  const auto [rows, f] = GetParam();
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{rows, 2 * f}, 500 + rows * f, -6.0f, 6.0f);
  GuardedOut out(Shape{rows, f});
  const SwigluArgs args{x.view(), out.view()};
  ASSERT_TRUE(swiglu(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

// 13696 is GLM-4's intermediate size: one decode row is split flat across threads mid-row.
INSTANTIATE_TEST_SUITE_P(OddSizes, SwigluSizes,
                         ::testing::Combine(::testing::Values(1, 2, 5, 33),
                                            ::testing::Values(1, 3, 127, 4097, 13696)));

TEST(Swiglu, KnownValues) {
  auto backend = make_cpu();
  // gate | up
  const float in[] = {0.0f, 1.0f, -2.0f, 3.0f, 2.0f, 5.0f, 7.0f, -1.0f};
  Tensor x = Tensor::host(DType::kF32, Shape{1, 8});
  std::memcpy(x.data(), in, sizeof in);
  GuardedOut out(Shape{1, 4});
  ASSERT_TRUE(swiglu(*backend, {x.view(), out.view()}).is_ok());
  out.expect_clean();
  // silu(0) = 0, silu(1) = 0.7310585786300049, silu(-2) = -0.2384058440442351, silu(3) = 2.857722677567012
  const double want[] = {0.0, 0.7310585786300049 * 5, -0.2384058440442351 * 7, 2.857722677567012 * -1};
  const std::vector<float> got = out.values();
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << "element " << i;
}

// exp(-g) overflows f32 for g < -88: silu must go to -0, not NaN; large g gives g * up.
TEST(Swiglu, ExtremeGatesStayFinite) {
  auto backend = make_cpu();
  const float in[] = {-200.0f, -90.0f, 90.0f, 200.0f, 1.0f, 1.0f, 1.0f, 2.0f};
  Tensor x = Tensor::host(DType::kF32, Shape{1, 8});
  std::memcpy(x.data(), in, sizeof in);
  GuardedOut out(Shape{1, 4});
  ASSERT_TRUE(swiglu(*backend, {x.view(), out.view()}).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_NEAR(got[0], 0.0f, 1e-30f);
  EXPECT_NEAR(got[1], 0.0f, 1e-30f);
  EXPECT_FLOAT_EQ(got[2], 90.0f);
  EXPECT_FLOAT_EQ(got[3], 400.0f);
}

TEST(Swiglu, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{3, 16}, 1);
  const Tensor out = Tensor::host(DType::kF32, Shape{3, 8});
  const SwigluArgs good{x.view(), out.view()};
  ASSERT_TRUE(swiglu(*backend, good).is_ok());

  SwigluArgs bad = good;
  bad.out = Tensor::host(DType::kF32, Shape{3, 16}).view();
  EXPECT_EQ(swiglu(*backend, bad).code(), StatusCode::kInvalidArgument) << "out as wide as x";
  bad = good;
  bad.x = x.view().reshaped(Shape{4, 12});
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "row count differs";
  bad = good;
  bad.x = x.view().reshaped(Shape{48});
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "x rank";
  bad = good;
  bad.x = x.view().reshaped(Shape{16, 3});
  bad.out = Tensor::host(DType::kF32, Shape{16, 1}).view();
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "odd last dim";
  bad = good;
  bad.x.dtype = DType::kBF16;
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "x dtype";
  bad = good;
  bad.out = x.view().reshaped(Shape{6, 8}).rows(0, 3);
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "out aliases x";
  bad = good;
  bad.out.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(swiglu(*backend, bad).is_ok()) << "device";
}

}  // namespace
}  // namespace autoglm

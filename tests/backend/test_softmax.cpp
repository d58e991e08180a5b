// softmax on the CPU backend against its reference (kernels/ref/softmax_ref.cpp) on odd sizes, large logits
// (the case without max subtraction overflows), rows summing to 1, in place, error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/softmax_ref.h"
#include "ops/softmax.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::random_tensor;
using test::rel_max_abs_error;
using test::to_f32;

constexpr double kTolerance = 1e-5;
using test::GuardedOut;
using test::make_cpu;

std::vector<float> reference(SoftmaxArgs args) {
  std::vector<float> want(static_cast<size_t>(args.x.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.x.shape, Device{}};
  softmax_ref(args);
  return want;
}

class SoftmaxSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(SoftmaxSizes, MatchesReferenceAndSumsToOne) {
  const auto [rows, c] = GetParam();
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{rows, c}, 700 + rows * c, -8.0f, 8.0f);
  GuardedOut out(Shape{rows, c});
  const SoftmaxArgs args{x.view(), out.view()};
  ASSERT_TRUE(softmax(*backend, args).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_LE(rel_max_abs_error(got, reference(args)), kTolerance);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < c; ++i)
      sum += got[r * c + i];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(OddSizes, SoftmaxSizes,
                         ::testing::Combine(::testing::Values(1, 2, 5, 33),
                                            ::testing::Values(1, 3, 127, 4097)));

// exp(1000) overflows f32; with the max subtracted the result is softmax of the differences.
TEST(Softmax, LargeLogitsDoNotOverflow) {
  auto backend = make_cpu();
  const float in[] = {1000.0f, 999.0f, 998.0f, -1000.0f, 1000.0f};
  Tensor x = Tensor::host(DType::kF32, Shape{1, 5});
  std::memcpy(x.data(), in, sizeof in);
  GuardedOut out(Shape{1, 5});
  ASSERT_TRUE(softmax(*backend, {x.view(), out.view()}).is_ok());
  out.expect_clean();
  const double z = 2 + std::exp(-1.0) + std::exp(-2.0);
  const double want[] = {1 / z, std::exp(-1.0) / z, std::exp(-2.0) / z, 0.0, 1 / z};
  const std::vector<float> got = out.values();
  for (int i = 0; i < 5; ++i)
    EXPECT_NEAR(got[i], want[i], 1e-7) << "element " << i;
}

TEST(Softmax, Rank3InPlaceMatchesReference) {
  auto backend = make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{3, 7, 4097}, 711, -20.0f, 20.0f);
  const SoftmaxArgs args{x.view(), x.view()};
  const std::vector<float> want = reference(args);
  ASSERT_TRUE(softmax(*backend, args).is_ok());
  EXPECT_LE(rel_max_abs_error(to_f32(x.view()), want), kTolerance);
}

TEST(Softmax, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{4, 8}, 1);
  const Tensor out = Tensor::host(DType::kF32, Shape{4, 8});
  const SoftmaxArgs good{x.view(), out.view()};
  ASSERT_TRUE(softmax(*backend, good).is_ok());

  SoftmaxArgs bad = good;
  bad.out = out.view().reshaped(Shape{8, 4});
  EXPECT_EQ(softmax(*backend, bad).code(), StatusCode::kInvalidArgument) << "out shape";
  bad = good;
  bad.x.dtype = DType::kF16;
  EXPECT_FALSE(softmax(*backend, bad).is_ok()) << "x dtype";
  bad = good;
  bad.out.dtype = DType::kI32;
  EXPECT_FALSE(softmax(*backend, bad).is_ok()) << "out dtype";
  bad = good;
  bad.x.shape = Shape{};
  bad.out.shape = Shape{};
  EXPECT_FALSE(softmax(*backend, bad).is_ok()) << "rank 0";
  bad = good;
  bad.x.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(softmax(*backend, bad).is_ok()) << "device";
  bad = good;
  bad.x = x.view().rows(0, 3);
  bad.out = x.view().rows(1, 4);
  EXPECT_FALSE(softmax(*backend, bad).is_ok()) << "shifted overlap of out and x";
}

}  // namespace
}  // namespace autoglm

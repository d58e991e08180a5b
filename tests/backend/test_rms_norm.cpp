// rms_norm on the CPU backend against its double-accumulation reference (kernels/ref/rms_norm_ref.cpp):
// random seeded inputs of odd sizes, NaN-poisoned output with guards on both sides, in place, error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/rms_norm_ref.h"
#include "ops/rms_norm.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::random_tensor;
using test::rel_max_abs_error;
using test::to_f32;

constexpr double kTolerance = 1e-5;
using test::bits_of;
using test::from_bits;
using test::GuardedOut;
using test::kGuard;
using test::kPoisonBits;
using test::kSentinelBits;
using test::make_cpu;

// The reference output for args, written to a fresh buffer.
std::vector<float> reference(RmsNormArgs args) {
  std::vector<float> want(static_cast<size_t>(args.x.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.x.shape, Device{}};
  rms_norm_ref(args);
  return want;
}

class RmsNormSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(RmsNormSizes, MatchesReference) {
  const auto [rows, d] = GetParam();
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{rows, d}, 100 + rows * d, -2.0f, 2.0f);
  const Tensor weight = random_tensor(DType::kF32, Shape{d}, 7 + d, 0.5f, 1.5f);
  GuardedOut out(Shape{rows, d});
  const RmsNormArgs args{x.view(), weight.view(), 1e-6f, out.view()};
  ASSERT_TRUE(rms_norm(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(OddSizes, RmsNormSizes,
                         ::testing::Combine(::testing::Values(1, 2, 5, 33),
                                            ::testing::Values(1, 3, 127, 4097)));

// Qwen3's q/k norm: a [t, heads, head_dim] view normalizes each head with one [head_dim] weight.
TEST(RmsNorm, NormalizesEachHeadOfRank3) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{7, 5, 64}, 11);
  const Tensor weight = random_tensor(DType::kF32, Shape{64}, 12, 0.5f, 1.5f);
  GuardedOut out(Shape{7, 5, 64});
  const RmsNormArgs args{x.view(), weight.view(), 1e-6f, out.view()};
  ASSERT_TRUE(rms_norm(*backend, args).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_LE(rel_max_abs_error(got, reference(args)), kTolerance);
  // Independent of the reference: with weight 1 each head would have mean square 1; here each output
  // divided by its weight does.
  for (int64_t h = 0; h < 35; ++h) {
    double mean_square = 0;
    for (int64_t i = 0; i < 64; ++i) {
      const double v = got[h * 64 + i] / weight.as<float>()[i];
      mean_square += v * v / 64;
    }
    EXPECT_NEAR(mean_square, 1.0, 1e-4) << "head row " << h;
  }
}

TEST(RmsNorm, InPlaceMatchesReference) {
  auto backend = make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{9, 4097}, 21);
  const Tensor weight = random_tensor(DType::kF32, Shape{4097}, 22);
  const RmsNormArgs args{x.view(), weight.view(), 1e-5f, x.view()};
  const std::vector<float> want = reference(args);
  ASSERT_TRUE(rms_norm(*backend, args).is_ok());
  EXPECT_LE(rel_max_abs_error(to_f32(x.view()), want), kTolerance);
}

TEST(RmsNorm, SingleThreadMatchesReference) {
  auto backend = make_cpu(1);
  const Tensor x = random_tensor(DType::kF32, Shape{33, 127}, 31);
  const Tensor weight = random_tensor(DType::kF32, Shape{127}, 32);
  GuardedOut out(Shape{33, 127});
  const RmsNormArgs args{x.view(), weight.view(), 1e-6f, out.view()};
  ASSERT_TRUE(rms_norm(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

TEST(RmsNorm, RejectsBadArguments) {
  auto backend = make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{4, 16}, 1);
  const Tensor weight = random_tensor(DType::kF32, Shape{16}, 2);
  const Tensor out = Tensor::host(DType::kF32, Shape{4, 16});
  const RmsNormArgs good{x.view(), weight.view(), 1e-6f, out.view()};
  ASSERT_TRUE(rms_norm(*backend, good).is_ok());

  RmsNormArgs bad = good;
  bad.weight = weight.view().reshaped(Shape{2, 8});
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "weight shape";
  bad = good;
  bad.out = out.view().reshaped(Shape{16, 4});
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "out shape";
  bad = good;
  bad.x.dtype = DType::kF16;
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "x dtype";
  bad = good;
  bad.out.dtype = DType::kBF16;
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "out dtype";
  bad = good;
  bad.x.shape = Shape{};
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "rank 0";
  bad = good;
  bad.out.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "device";
  bad = good;
  bad.eps = -1.0f;
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "eps";
  bad = good;
  bad.out = x.view().rows(1, 4).reshaped(Shape{3, 16});
  bad.x = x.view().rows(0, 3);
  EXPECT_FALSE(rms_norm(*backend, bad).is_ok()) << "shifted overlap of out and x";
}

}  // namespace
}  // namespace autoglm

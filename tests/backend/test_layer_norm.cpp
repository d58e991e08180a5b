// layer_norm on the CPU backend against its double-accumulation reference (kernels/ref/layer_norm_ref.cpp):
// random seeded inputs of odd sizes, with and without bias, NaN-poisoned output with guards, in place,
// a large common offset (the case a one-pass variance gets wrong), error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/layer_norm_ref.h"
#include "ops/layer_norm.h"
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

std::vector<float> reference(LayerNormArgs args) {
  std::vector<float> want(static_cast<size_t>(args.x.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.x.shape, Device{}};
  layer_norm_ref(args);
  return want;
}

class LayerNormSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, bool>> {};

TEST_P(LayerNormSizes, MatchesReference) {
  const auto [rows, d, with_bias] = GetParam();
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{rows, d}, 200 + rows * d, -2.0f, 3.0f);
  const Tensor weight = random_tensor(DType::kF32, Shape{d}, 8 + d, 0.5f, 1.5f);
  const Tensor bias = random_tensor(DType::kF32, Shape{d}, 9 + d);
  GuardedOut out(Shape{rows, d});
  LayerNormArgs args{x.view(), weight.view(), {}, 1e-5f, out.view()};
  if (with_bias) args.bias = bias.view();
  ASSERT_TRUE(layer_norm(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(OddSizes, LayerNormSizes,
                         ::testing::Combine(::testing::Values(1, 2, 5, 33),
                                            ::testing::Values(1, 3, 127, 4097), ::testing::Bool()));

// Values 1000 + [-1, 1): sum(x^2)/d - mean^2 cancels almost every digit in f32, two passes do not.
TEST(LayerNorm, LargeOffsetKeepsVariance) {
  auto backend = make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{3, 4097}, 41);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.as<float>()[i] += 1000.0f;
  const Tensor weight = random_tensor(DType::kF32, Shape{4097}, 42, 0.5f, 1.5f);
  GuardedOut out(Shape{3, 4097});
  const LayerNormArgs args{x.view(), weight.view(), {}, 1e-5f, out.view()};
  ASSERT_TRUE(layer_norm(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

// Independent of the reference: with weight 1 and bias 0 every row comes out with mean 0 and variance ~1.
TEST(LayerNorm, UnitWeightGivesZeroMeanUnitVariance) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{5, 127}, 51, -3.0f, 5.0f);
  Tensor weight = Tensor::host(DType::kF32, Shape{127});
  std::fill(weight.as<float>(), weight.as<float>() + 127, 1.0f);
  GuardedOut out(Shape{5, 127});
  ASSERT_TRUE(layer_norm(*backend, {x.view(), weight.view(), {}, 0.0f, out.view()}).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  for (int64_t r = 0; r < 5; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < 127; ++i)
      mean += got[r * 127 + i] / 127.0;
    for (int64_t i = 0; i < 127; ++i)
      var += (got[r * 127 + i] - mean) * (got[r * 127 + i] - mean) / 127.0;
    EXPECT_NEAR(mean, 0.0, 1e-6) << "row " << r;
    EXPECT_NEAR(var, 1.0, 1e-5) << "row " << r;
  }
}

TEST(LayerNorm, InPlaceMatchesReference) {
  auto backend = make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{9, 4097}, 61);
  const Tensor weight = random_tensor(DType::kF32, Shape{4097}, 62);
  const Tensor bias = random_tensor(DType::kF32, Shape{4097}, 63);
  const LayerNormArgs args{x.view(), weight.view(), bias.view(), 1e-5f, x.view()};
  const std::vector<float> want = reference(args);
  ASSERT_TRUE(layer_norm(*backend, args).is_ok());
  EXPECT_LE(rel_max_abs_error(to_f32(x.view()), want), kTolerance);
}

TEST(LayerNorm, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{4, 16}, 1);
  const Tensor weight = random_tensor(DType::kF32, Shape{16}, 2);
  const Tensor bias = random_tensor(DType::kF32, Shape{16}, 3);
  const Tensor out = Tensor::host(DType::kF32, Shape{4, 16});
  const LayerNormArgs good{x.view(), weight.view(), bias.view(), 1e-5f, out.view()};
  ASSERT_TRUE(layer_norm(*backend, good).is_ok());

  LayerNormArgs bad = good;
  bad.weight = weight.view().reshaped(Shape{2, 8});
  EXPECT_EQ(layer_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "weight shape";
  bad = good;
  bad.bias = bias.view().rows(0, 15);
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "bias shape";
  bad = good;
  bad.bias.dtype = DType::kF16;
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "bias dtype";
  bad = good;
  bad.out = out.view().reshaped(Shape{64});
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "out shape";
  bad = good;
  bad.x.dtype = DType::kBF16;
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "x dtype";
  bad = good;
  bad.weight.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "device";
  bad = good;
  bad.out = weight.view().reshaped(Shape{1, 16});
  bad.x = x.view().rows(0, 1);
  EXPECT_FALSE(layer_norm(*backend, bad).is_ok()) << "out aliases weight";
}

}  // namespace
}  // namespace autoglm

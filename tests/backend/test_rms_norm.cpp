// rms_norm on the CPU backend against its double-accumulation reference (kernels/ref/rms_norm_ref.cpp):
// random seeded inputs of odd sizes, NaN-poisoned output with guards on both sides, in place, error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/rms_norm_ref.h"
#include "core/half.h"
#include "ops/rms_norm.h"
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
  bad.out.dtype = DType::kI32;
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

namespace autoglm {
namespace {

// With a residual, the op writes x + residual to sum_out and normalizes it: exactly the bits of add followed
// by rms_norm (the decoder's residual add fused into the next norm), in place on x too.
TEST(RmsNormWithResidual, EqualsAddThenNormBitForBit) {
  auto backend = test::make_cpu();
  for (const int64_t d : {1, 3, 16, 64, 4097}) {
    for (const int64_t rows : {1, 5}) {
      SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows));
      const Tensor x = random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(10 * d + rows));
      const Tensor r = random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(10 * d + rows + 1));
      const Tensor w = random_tensor(DType::kF32, Shape{d}, static_cast<uint64_t>(10 * d + rows + 2));
      Tensor sum = Tensor::host(DType::kF32, Shape{rows, d});
      for (int64_t i = 0; i < rows * d; ++i)
        sum.as<float>()[i] = x.as<const float>()[i] + r.as<const float>()[i];
      Tensor want = Tensor::host(DType::kF32, Shape{rows, d});
      ASSERT_TRUE(rms_norm(*backend, {sum.view(), w.view(), 1e-5f, want.view()}).is_ok());

      GuardedOut out(Shape{rows, d}), sum_out(Shape{rows, d});
      ASSERT_TRUE(
          rms_norm(*backend, {x.view(), w.view(), 1e-5f, out.view(), r.view(), sum_out.view()}).is_ok());
      out.expect_clean();
      sum_out.expect_clean();
      EXPECT_EQ(sum_out.values(), to_f32(sum.view())) << "sum";
      EXPECT_EQ(out.values(), to_f32(want.view())) << "norm";

      Tensor in_place = Tensor::host(DType::kF32, Shape{rows, d});
      std::memcpy(in_place.data(), x.data(), x.nbytes());
      GuardedOut out2(Shape{rows, d});
      ASSERT_TRUE(
          rms_norm(*backend, {in_place.view(), w.view(), 1e-5f, out2.view(), r.view(), in_place.view()})
              .is_ok());
      EXPECT_EQ(to_f32(in_place.view()), to_f32(sum.view())) << "sum in place";
      EXPECT_EQ(out2.values(), to_f32(want.view())) << "norm, sum in place";
    }
  }
}

TEST(RmsNormWithResidual, RejectsBadArguments) {
  auto backend = test::make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{4, 16}, 1);
  const Tensor r = random_tensor(DType::kF32, Shape{4, 16}, 2);
  const Tensor w = random_tensor(DType::kF32, Shape{16}, 3);
  Tensor out = Tensor::host(DType::kF32, Shape{4, 16});
  Tensor sum = Tensor::host(DType::kF32, Shape{4, 16});
  const RmsNormArgs good{x.view(), w.view(), 1e-6f, out.view(), r.view(), sum.view()};
  ASSERT_TRUE(rms_norm(*backend, good).is_ok());
  RmsNormArgs bad = good;
  bad.sum_out = TensorView{};
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "no sum_out";
  bad = good;
  bad.residual = r.view().reshaped(Shape{16, 4});
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "residual shape";
  bad = good;
  bad.out = x.view();
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "out aliasing x";
  bad = good;
  bad.sum_out = r.view();
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "sum_out aliasing residual";
  bad = good;
  bad.out = sum.view();
  EXPECT_EQ(rms_norm(*backend, bad).code(), StatusCode::kInvalidArgument) << "out aliasing sum_out";
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// bf16 / f16 out (the input of a matmul over weights of that type): exactly the f32 result rounded to
// nearest-even, with and without the fused residual add.
TEST(RmsNormSixteenBitOut, EqualsRoundedF32Result) {
  auto backend = test::make_cpu();
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const int64_t d : {1, 3, 64, 4097}) {
      for (const bool with_residual : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " d " + std::to_string(d) +
                     (with_residual ? " residual" : ""));
        const int64_t rows = 5;
        const Tensor x = random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(3 * d + 1), -3, 3);
        const Tensor r = random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(3 * d + 2));
        const Tensor w = random_tensor(DType::kF32, Shape{d}, static_cast<uint64_t>(3 * d + 3), 0.5f, 1.5f);
        Tensor want = Tensor::host(DType::kF32, Shape{rows, d});
        Tensor sum = Tensor::host(DType::kF32, Shape{rows, d});
        RmsNormArgs args{x.view(), w.view(), 1e-5f, want.view()};
        if (with_residual) {
          args.residual = r.view();
          args.sum_out = sum.view();
        }
        ASSERT_TRUE(rms_norm(*backend, args).is_ok());
        // Guard words on both sides of the 16-bit output.
        std::vector<uint16_t> storage(static_cast<size_t>(rows * d + 16), 0xBEEF);
        args.out = TensorView{storage.data() + 8, dtype, Shape{rows, d}, Device{}};
        ASSERT_TRUE(rms_norm(*backend, args).is_ok());
        for (int i = 0; i < 8; ++i) {
          ASSERT_EQ(storage[static_cast<size_t>(i)], 0xBEEF) << "guard before";
          ASSERT_EQ(storage[storage.size() - 1 - static_cast<size_t>(i)], 0xBEEF) << "guard after";
        }
        for (int64_t i = 0; i < rows * d; ++i) {
          const float v = want.as<const float>()[i];
          const uint16_t expected = dtype == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
          ASSERT_EQ(storage[static_cast<size_t>(8 + i)], expected) << "element " << i;
        }
      }
    }
  }
}

TEST(RmsNormSixteenBitOut, RejectsOtherTypesAndInPlace) {
  auto backend = test::make_cpu();
  Tensor x = random_tensor(DType::kF32, Shape{2, 8}, 1);
  const Tensor w = random_tensor(DType::kF32, Shape{8}, 2);
  Tensor out_i32 = Tensor::host(DType::kI32, Shape{2, 8});
  EXPECT_EQ(rms_norm(*backend, {x.view(), w.view(), 1e-6f, out_i32.view()}).code(),
            StatusCode::kInvalidArgument);
  // A 16-bit out over x's own memory would overwrite x while it is read.
  TensorView over_x = x.view();
  over_x.dtype = DType::kBF16;
  EXPECT_EQ(rms_norm(*backend, {x.view(), w.view(), 1e-6f, over_x}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

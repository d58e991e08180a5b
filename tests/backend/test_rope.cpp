// rope on the CPU backend against its reference (kernels/ref/rope_ref.cpp), both layouts, full and partial
// rotary, non-contiguous positions, in place; and checks that need no reference: position 0 is the identity,
// each rotated pair keeps its norm, and a unit vector lands where each layout says it should.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/rope_ref.h"
#include "ops/rope.h"
#include "support/guarded_output.h"
#include "support/rope_inputs.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::make_inv_freq;

using test::random_tensor;
using test::rel_max_abs_error;
using test::to_f32;

constexpr double kTolerance = 1e-5;
using test::GuardedOut;
using test::make_cpu;

// Non-contiguous positions that start with 0, 5, 1000 (a new sequence, a gap, a far position).
Tensor make_positions(int64_t t, uint64_t seed) {
  Tensor p = Tensor::host(DType::kI32, Shape{t});
  const int32_t fixed[] = {0, 5, 1000};
  const Tensor r = random_tensor(DType::kI32, Shape{t}, seed, 0.0f, 8000.0f);
  for (int64_t i = 0; i < t; ++i)
    p.as<int32_t>()[i] = i < 3 ? fixed[i] : r.as<int32_t>()[i];
  return p;
}

std::vector<float> reference(RopeArgs args) {
  std::vector<float> want(static_cast<size_t>(args.x.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.x.shape, Device{}};
  rope_ref(args);
  return want;
}

int rotary_dim_for(int64_t head_dim, double fraction) {
  return std::max(2, static_cast<int>(head_dim * fraction) / 2 * 2);
}

using RopeParam =
    std::tuple<RopeLayout, int64_t, int64_t, int64_t, double>;  // layout, t, heads, head_dim, frac
class RopeSizes : public ::testing::TestWithParam<RopeParam> {};

TEST_P(RopeSizes, MatchesReference) {
  const auto [layout, t, heads, head_dim, fraction] = GetParam();
  auto backend = make_cpu();
  const int rotary_dim = rotary_dim_for(head_dim, fraction);
  const Tensor x = random_tensor(DType::kF32, Shape{t, heads, head_dim}, 300 + t * heads * head_dim);
  const Tensor positions = make_positions(t, 5 + t);
  const Tensor inv_freq = make_inv_freq(rotary_dim);
  GuardedOut out(x.shape());
  const RopeArgs args{x.view(), positions.view(), inv_freq.view(), rotary_dim, layout, out.view()};
  ASSERT_TRUE(rope(*backend, args).is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_LE(rel_max_abs_error(got, reference(args)), kTolerance);
  // Dims past rotary_dim pass through bit for bit.
  for (int64_t row = 0; row < t * heads; ++row) {
    for (int64_t d = rotary_dim; d < head_dim; ++d) {
      ASSERT_EQ(got[row * head_dim + d], x.as<float>()[row * head_dim + d]) << "row " << row << " dim " << d;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, RopeSizes,
                         ::testing::Combine(::testing::Values(RopeLayout::kNeox, RopeLayout::kInterleaved),
                                            ::testing::Values(1, 3, 37), ::testing::Values(1, 5),
                                            ::testing::Values(3, 64, 127, 128),
                                            ::testing::Values(1.0, 0.5, 0.25)));

// Prefill-sized call that splits tokens over the pool, and a long head (4097 columns).
TEST(Rope, LargeCallsMatchReference) {
  auto backend = make_cpu();
  for (const auto& [t, heads, head_dim] :
       {std::tuple<int64_t, int64_t, int64_t>{257, 8, 128}, {3, 2, 4097}}) {
    for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
      const int rotary_dim = rotary_dim_for(head_dim, 0.5);
      const Tensor x = random_tensor(DType::kF32, Shape{t, heads, head_dim}, 71 + t);
      const Tensor positions = make_positions(t, 72);
      const Tensor inv_freq = make_inv_freq(rotary_dim, 500000.0);
      GuardedOut out(x.shape());
      const RopeArgs args{x.view(), positions.view(), inv_freq.view(), rotary_dim, layout, out.view()};
      ASSERT_TRUE(rope(*backend, args).is_ok());
      out.expect_clean();
      EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance) << "t " << t;
    }
  }
}

TEST(Rope, InPlaceMatchesReference) {
  auto backend = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    Tensor x = random_tensor(DType::kF32, Shape{37, 4, 96}, 81);
    const Tensor positions = make_positions(37, 82);
    const Tensor inv_freq = make_inv_freq(48);
    const RopeArgs args{x.view(), positions.view(), inv_freq.view(), 48, layout, x.view()};
    const std::vector<float> want = reference(args);
    ASSERT_TRUE(rope(*backend, args).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(x.view()), want), kTolerance);
  }
}

TEST(Rope, PositionZeroIsIdentity) {
  auto backend = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Tensor x = random_tensor(DType::kF32, Shape{4, 3, 64}, 91);
    Tensor positions = Tensor::host(DType::kI32, Shape{4});
    std::fill(positions.as<int32_t>(), positions.as<int32_t>() + 4, 0);
    const Tensor inv_freq = make_inv_freq(64);
    GuardedOut out(x.shape());
    ASSERT_TRUE(
        rope(*backend, {x.view(), positions.view(), inv_freq.view(), 64, layout, out.view()}).is_ok());
    out.expect_clean();
    EXPECT_EQ(out.values(), to_f32(x.view()));
  }
}

// The pairs each layout defines, found from the outside: a rotation keeps x0^2 + x1^2.
TEST(Rope, RotationPreservesPairNorms) {
  auto backend = make_cpu();
  const int64_t t = 5, heads = 2, head_dim = 32, half = 16;
  const Tensor x = random_tensor(DType::kF32, Shape{t, heads, head_dim}, 101);
  const Tensor positions = make_positions(t, 102);
  const Tensor inv_freq = make_inv_freq(32);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    GuardedOut out(x.shape());
    ASSERT_TRUE(
        rope(*backend, {x.view(), positions.view(), inv_freq.view(), 32, layout, out.view()}).is_ok());
    const std::vector<float> got = out.values();
    for (int64_t row = 0; row < t * heads; ++row) {
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = row * head_dim + (layout == RopeLayout::kNeox ? i : 2 * i);
        const int64_t i1 = row * head_dim + (layout == RopeLayout::kNeox ? i + half : 2 * i + 1);
        const double before = std::hypot(x.as<float>()[i0], x.as<float>()[i1]);
        EXPECT_NEAR(std::hypot(got[i0], got[i1]), before, 1e-6 * (1 + before))
            << "row " << row << " pair " << i;
      }
    }
  }
}

// e_0 at position 1 rotates by inv_freq[0] = 1 radian into its partner: dim 2 (neox) or dim 1 (interleaved).
TEST(Rope, UnitVectorRotatesIntoItsPartner) {
  auto backend = make_cpu();
  Tensor x = Tensor::host(DType::kF32, Shape{1, 1, 4});
  const float e0[] = {1, 0, 0, 0};
  std::memcpy(x.data(), e0, sizeof e0);
  Tensor positions = Tensor::host(DType::kI32, Shape{1});
  positions.as<int32_t>()[0] = 1;
  Tensor inv_freq = Tensor::host(DType::kF32, Shape{2});
  inv_freq.as<float>()[0] = 1.0f;
  inv_freq.as<float>()[1] = 0.25f;
  const float c = std::cos(1.0f), s = std::sin(1.0f);
  const std::vector<float> neox = {c, 0, s, 0}, interleaved = {c, s, 0, 0};
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    GuardedOut out(x.shape());
    ASSERT_TRUE(rope(*backend, {x.view(), positions.view(), inv_freq.view(), 4, layout, out.view()}).is_ok());
    const std::vector<float> got = out.values();
    const std::vector<float>& want = layout == RopeLayout::kNeox ? neox : interleaved;
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(got[i], want[i], 1e-7) << "dim " << i;
  }
}

TEST(Rope, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor x = random_tensor(DType::kF32, Shape{3, 2, 8}, 1);
  const Tensor positions = make_positions(3, 2);
  const Tensor inv_freq = make_inv_freq(8);
  const Tensor out = Tensor::host(DType::kF32, Shape{3, 2, 8});
  const RopeArgs good{x.view(), positions.view(), inv_freq.view(), 8, RopeLayout::kNeox, out.view()};
  ASSERT_TRUE(rope(*backend, good).is_ok());

  RopeArgs bad = good;
  bad.rotary_dim = 7;
  EXPECT_EQ(rope(*backend, bad).code(), StatusCode::kInvalidArgument) << "odd rotary_dim";
  bad = good;
  bad.rotary_dim = 10;
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "rotary_dim > head_dim";
  bad = good;
  bad.rotary_dim = 0;
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "rotary_dim unset";
  bad = good;
  bad.rotary_dim = 4;
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "inv_freq size != rotary_dim / 2";
  bad = good;
  bad.positions.dtype = DType::kF32;
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "positions dtype";
  bad = good;
  bad.positions = positions.view().rows(0, 2);
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "positions length";
  bad = good;
  bad.x = x.view().reshaped(Shape{6, 8});
  bad.out = out.view().reshaped(Shape{6, 8});
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "x rank";
  bad = good;
  bad.out = out.view().reshaped(Shape{3, 4, 4});
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "out shape";
  bad = good;
  bad.x.dtype = DType::kF16;
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "x dtype";
  bad = good;
  bad.inv_freq.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(rope(*backend, bad).is_ok()) << "device";
}

}  // namespace
}  // namespace autoglm

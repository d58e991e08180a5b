// add on the CPU backend against its reference (kernels/ref/add_ref.cpp) on odd sizes and ranks, in place on
// either operand, error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/add_ref.h"
#include "ops/add.h"
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

std::vector<float> reference(AddArgs args) {
  std::vector<float> want(static_cast<size_t>(args.a.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.a.shape, Device{}};
  add_ref(args);
  return want;
}

class AddSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(AddSizes, MatchesReference) {
  const auto [rows, cols] = GetParam();
  auto backend = make_cpu();
  const Tensor a = random_tensor(DType::kF32, Shape{rows, cols}, 600 + rows * cols);
  const Tensor b = random_tensor(DType::kF32, Shape{rows, cols}, 601 + rows * cols);
  GuardedOut out(Shape{rows, cols});
  const AddArgs args{a.view(), b.view(), out.view()};
  ASSERT_TRUE(add(*backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
  // One f32 add per element is exact to rounding: compare bit for bit too.
  const std::vector<float> got = out.values();
  for (int64_t i = 0; i < rows * cols; ++i)
    ASSERT_EQ(got[i], a.as<float>()[i] + b.as<float>()[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(OddSizes, AddSizes,
                         ::testing::Combine(::testing::Values(1, 2, 5, 33),
                                            ::testing::Values(1, 3, 127, 4097)));

TEST(Add, Rank3AndInPlaceOnEitherOperand) {
  auto backend = make_cpu();
  const Shape shape{7, 5, 999};
  const Tensor a0 = random_tensor(DType::kF32, shape, 611);
  const Tensor b0 = random_tensor(DType::kF32, shape, 612);
  std::vector<float> want = reference({a0.view(), b0.view(), {}});
  for (const bool into_a : {true, false}) {
    Tensor a = random_tensor(DType::kF32, shape, 611);
    Tensor b = random_tensor(DType::kF32, shape, 612);
    const TensorView out = into_a ? a.view() : b.view();
    ASSERT_TRUE(add(*backend, {a.view(), b.view(), out}).is_ok());
    EXPECT_EQ(to_f32(out), want) << (into_a ? "out = a" : "out = b");
  }
}

TEST(Add, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor a = random_tensor(DType::kF32, Shape{4, 8}, 1);
  const Tensor b = random_tensor(DType::kF32, Shape{4, 8}, 2);
  const Tensor out = Tensor::host(DType::kF32, Shape{4, 8});
  const AddArgs good{a.view(), b.view(), out.view()};
  ASSERT_TRUE(add(*backend, good).is_ok());

  AddArgs bad = good;
  bad.b = b.view().reshaped(Shape{8, 4});
  EXPECT_EQ(add(*backend, bad).code(), StatusCode::kInvalidArgument) << "b shape";
  bad = good;
  bad.out = out.view().reshaped(Shape{32});
  EXPECT_FALSE(add(*backend, bad).is_ok()) << "out shape";
  bad = good;
  bad.b.dtype = DType::kF16;
  EXPECT_FALSE(add(*backend, bad).is_ok()) << "b dtype";
  bad = good;
  bad.a.dtype = DType::kI32;
  EXPECT_FALSE(add(*backend, bad).is_ok()) << "a dtype";
  bad = good;
  bad.b.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(add(*backend, bad).is_ok()) << "device";
  bad = good;
  bad.a = a.view().rows(0, 3);
  bad.b = b.view().rows(0, 3);
  bad.out = a.view().rows(1, 4);
  EXPECT_FALSE(add(*backend, bad).is_ok()) << "shifted overlap of out and a";
}

}  // namespace
}  // namespace autoglm

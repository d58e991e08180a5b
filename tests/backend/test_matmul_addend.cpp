// matmul and matmul_swiglu with an addend (ops/matmul.h: the residual add folded into the projection) on the
// CPU: the bits of the call without it followed by the add op, with and without bias, f32 and 16-bit x;
// the addend is left as it was; the argument checks (shape, dtype, an addend overlapping out, a 16-bit out).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "ops/add.h"
#include "ops/matmul.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::random_tensor;

void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << what;
}

TEST(MatmulAddend, EqualsTheMatmulThenTheAdd) {
  auto cpu = make_cpu(2);
  const int64_t m = 5, n = 24, k = 40;
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    for (const bool x_16bit : {false, true}) {
      if (x_16bit && dtype == DType::kF32) continue;  // a 16-bit x goes with 16-bit weights only
      for (const bool with_bias : {false, true}) {
        const std::string what = std::string(dtype_name(dtype)) + (x_16bit ? " 16-bit x" : " f32 x") +
                                 (with_bias ? " bias" : " no bias");
        const Tensor x = random_tensor(x_16bit ? dtype : DType::kF32, Shape{m, k}, 1);
        const Tensor w = random_tensor(dtype, Shape{n, k}, 2);
        const Tensor bias = random_tensor(DType::kF32, Shape{n}, 3);
        const Tensor addend = random_tensor(DType::kF32, Shape{m, n}, 4, -8.0f, 8.0f);
        Tensor before = Tensor::host(DType::kF32, addend.shape());
        std::memcpy(before.data(), addend.data(), addend.nbytes());
        const TensorView b = with_bias ? bias.view() : TensorView{};
        Tensor plain = Tensor::host(DType::kF32, Shape{m, n}), want = Tensor::host(DType::kF32, Shape{m, n});
        ASSERT_TRUE(matmul(*cpu, {x.view(), w.view(), b, plain.view()}).is_ok());
        ASSERT_TRUE(add(*cpu, {addend.view(), plain.view(), want.view()}).is_ok());
        Tensor got = Tensor::host(DType::kF32, Shape{m, n});
        MatmulArgs args{x.view(), w.view(), b, got.view()};
        args.addend = addend.view();
        const Status s = matmul(*cpu, args);
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        expect_same_bits(got, want, what);
        expect_same_bits(addend, before, what + ": the addend was written");
      }
    }
  }
}

TEST(MatmulAddend, MatmulSwigluEqualsItsCallThenTheAdd) {
  auto cpu = make_cpu(2);
  const int64_t m = 3, n = 16, k = 24;
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor x = random_tensor(DType::kF32, Shape{m, 2 * k}, 5, -3.0f, 3.0f);
    const Tensor w = random_tensor(dtype, Shape{n, k}, 6);
    const Tensor addend = random_tensor(DType::kF32, Shape{m, n}, 7, -8.0f, 8.0f);
    Tensor plain = Tensor::host(DType::kF32, Shape{m, n}), want = Tensor::host(DType::kF32, Shape{m, n});
    ASSERT_TRUE(matmul_swiglu(*cpu, {x.view(), w.view(), {}, plain.view()}).is_ok());
    ASSERT_TRUE(add(*cpu, {addend.view(), plain.view(), want.view()}).is_ok());
    Tensor got = Tensor::host(DType::kF32, Shape{m, n});
    MatmulSwigluArgs args{x.view(), w.view(), {}, got.view()};
    args.addend = addend.view();
    const Status s = matmul_swiglu(*cpu, args);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    expect_same_bits(got, want, std::string(dtype_name(dtype)));
  }
}

TEST(MatmulAddend, RejectsBadAddends) {
  auto cpu = make_cpu(1);
  const Tensor x = random_tensor(DType::kF32, Shape{2, 8}, 1);
  const Tensor w = random_tensor(DType::kBF16, Shape{4, 8}, 2);
  Tensor out = Tensor::host(DType::kF32, Shape{2, 4});
  auto call = [&](const TensorView& addend, const TensorView& o) {
    MatmulArgs args{x.view(), w.view(), {}, o};
    args.addend = addend;
    return matmul(*cpu, args).code();
  };
  const Tensor wrong_shape = random_tensor(DType::kF32, Shape{2, 5}, 3);
  EXPECT_EQ(call(wrong_shape.view(), out.view()), StatusCode::kInvalidArgument);
  const Tensor wrong_dtype = random_tensor(DType::kBF16, Shape{2, 4}, 4);
  EXPECT_EQ(call(wrong_dtype.view(), out.view()), StatusCode::kInvalidArgument);
  EXPECT_EQ(call(out.view(), out.view()), StatusCode::kInvalidArgument);  // the addend is out itself
  const Tensor addend = random_tensor(DType::kF32, Shape{2, 4}, 5);
  Tensor out16 = Tensor::host(DType::kBF16, Shape{2, 4});
  EXPECT_EQ(call(addend.view(), out16.view()), StatusCode::kInvalidArgument);  // a 16-bit out
  EXPECT_EQ(call(addend.view(), out.view()), StatusCode::kOk);
}

}  // namespace
}  // namespace autoglm

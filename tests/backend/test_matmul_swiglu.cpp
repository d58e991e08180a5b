// matmul_swiglu on the CPU (no fused kernel: swiglu into a temporary, then matmul) equals the two ops run
// by hand, bit for bit, for plain and block-quantized weights; bad shapes are rejected.
#include <gtest/gtest.h>

#include "ops/matmul.h"
#include "ops/swiglu.h"
#include "support/guarded_output.h"
#include "support/test_data.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

TEST(MatmulSwiglu, CpuEqualsSwigluThenMatmul) {
  auto cpu = test::make_cpu();
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kQ8_0}) {
    for (int64_t m : {1, 5, 33}) {
      const int64_t k = 64, n = 37;
      const Tensor x = test::random_tensor(DType::kF32, Shape{m, 2 * k}, 5 + m, -3.0f, 3.0f);
      const Tensor w32 = test::random_tensor(DType::kF32, Shape{n, k}, 6 + m);
      Tensor w = Tensor::host(dtype, Shape{n, k});
      if (dtype == DType::kQ8_0) {
        ASSERT_TRUE(quantize_row(dtype, w32.as<float>(), static_cast<uint8_t*>(w.data()), n * k).is_ok());
      } else {
        w = test::random_tensor(dtype, Shape{n, k}, 6 + m);
      }
      const Tensor bias = test::random_tensor(DType::kF32, Shape{n}, 7);
      test::GuardedOut fused(Shape{m, n});
      ASSERT_TRUE(matmul_swiglu(*cpu, {x.view(), w.view(), bias.view(), fused.view()}).is_ok());
      fused.expect_clean();
      Tensor act = Tensor::host(DType::kF32, Shape{m, k});
      ASSERT_TRUE(swiglu(*cpu, {x.view(), act.view()}).is_ok());
      Tensor plain = Tensor::host(DType::kF32, Shape{m, n});
      ASSERT_TRUE(matmul(*cpu, {act.view(), w.view(), bias.view(), plain.view()}).is_ok());
      EXPECT_EQ(fused.values(), test::to_f32(plain.view())) << dtype_name(dtype) << " m " << m;
    }
  }
}

TEST(MatmulSwiglu, RejectsBadShapes) {
  auto cpu = test::make_cpu();
  const Tensor x = test::random_tensor(DType::kF32, Shape{2, 10}, 1);
  const Tensor w = test::random_tensor(DType::kF32, Shape{4, 6}, 2);
  Tensor out = Tensor::host(DType::kF32, Shape{2, 4});
  EXPECT_EQ(matmul_swiglu(*cpu, {x.view(), w.view(), {}, out.view()}).code(), StatusCode::kInvalidArgument);
  const Tensor w5 = test::random_tensor(DType::kF32, Shape{4, 5}, 3);
  Tensor bad_out = Tensor::host(DType::kF32, Shape{3, 4});
  EXPECT_FALSE(matmul_swiglu(*cpu, {x.view(), w5.view(), {}, bad_out.view()}).is_ok());
}

}  // namespace
}  // namespace autoglm

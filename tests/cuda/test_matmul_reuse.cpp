// Back-to-back GEMMs on the same x reuse its 16-bit conversion (kernels/matmul.cu): the results must equal
// those of GEMMs that convert afresh, and any work queued in between that may have written x (a kernel, a
// copy) must force a new conversion.
#include <gtest/gtest.h>

#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/add.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

std::vector<float> run(Backend& cuda, const Tensor& x, const Tensor& w) {
  auto out = cuda.allocate(DType::kF32, Shape{x.shape()[0], w.shape()[0]});
  EXPECT_TRUE(out.has_value());
  EXPECT_TRUE(matmul(cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
  return test::to_f32(test::to_host(cuda, out->view()).view());
}

TEST(CudaMatmulReuse, ConsecutiveGemmsOnOneXEqualFreshOnes) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const Tensor x = test::to_device(*cuda, test::random_tensor(DType::kF32, Shape{130, 256}, 1));
    std::vector<Tensor> ws;
    for (int i = 0; i < 3; ++i)
      ws.push_back(test::to_device(*cuda, test::random_tensor(dtype, Shape{64 + 32 * i, 256}, 10 + i)));
    // Back to back: the second and third reuse the conversion (to_host copies in between would count as
    // queued work, so collect outputs first).
    std::vector<Tensor> outs;
    for (const Tensor& w : ws) {
      auto out = cuda->allocate(DType::kF32, Shape{130, w.shape()[0]});
      ASSERT_TRUE(out.has_value());
      ASSERT_TRUE(matmul(*cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
      outs.push_back(std::move(out).value());
    }
    for (size_t i = 0; i < ws.size(); ++i) {
      const std::vector<float> chained = test::to_f32(test::to_host(*cuda, outs[i].view()).view());
      EXPECT_EQ(chained, run(*cuda, x, ws[i])) << dtype_name(dtype) << " weight " << i;
    }
  }
}

TEST(CudaMatmulReuse, XRewrittenInBetweenIsConvertedAgain) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  const Tensor host_x = test::random_tensor(DType::kF32, Shape{40, 128}, 3);
  const Tensor x = test::to_device(*cuda, host_x);
  const Tensor w = test::to_device(*cuda, test::random_tensor(DType::kBF16, Shape{50, 128}, 4));
  auto out = cuda->allocate(DType::kF32, Shape{40, 50});
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE(matmul(*cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
  // A kernel rewrites x in place (x = x + x), then the same GEMM: it must see the new x.
  ASSERT_TRUE(add(*cuda, {x.view(), x.view(), x.view()}).is_ok());
  ASSERT_TRUE(matmul(*cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
  const std::vector<float> after_kernel = test::to_f32(test::to_host(*cuda, out->view()).view());
  const Tensor doubled = test::to_device(*cuda, test::to_host(*cuda, x.view()));
  EXPECT_EQ(after_kernel, run(*cuda, doubled, w));
  // A host copy rewrites x, then the same GEMM.
  ASSERT_TRUE(matmul(*cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
  ASSERT_TRUE(cuda->copy(x.view(), host_x.view()).is_ok());
  ASSERT_TRUE(matmul(*cuda, {x.view(), w.view(), {}, out->view()}).is_ok());
  const std::vector<float> after_copy = test::to_f32(test::to_host(*cuda, out->view()).view());
  EXPECT_EQ(after_copy, run(*cuda, test::to_device(*cuda, host_x), w));
}

}  // namespace
}  // namespace autoglm

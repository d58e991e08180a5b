// argmax on the GPU against the CPU kernel: exact ids on rows with many ties, NaN and infinities, vocabulary
// sized rows and odd lengths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/argmax.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

TEST(CudaArgmax, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(5);
  for (int64_t c : {1, 3, 127, 1025, 4097, 128256, 151936}) {
    for (int64_t rows : {1, 3, 64}) {
      SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(c));
      Tensor x = Tensor::host(DType::kF32, Shape{rows, c});
      float* v = x.as<float>();
      for (int64_t i = 0; i < rows * c; ++i)
        v[i] = static_cast<float>(static_cast<int>(rng() % 50));
      for (int k = 0; k < 10; ++k) {
        const int64_t at = static_cast<int64_t>(rng() % static_cast<uint64_t>(rows * c));
        v[at] = k % 2 ? std::nanf("") : -__builtin_inff();
      }
      Tensor want = Tensor::host(DType::kI32, Shape{rows});
      ASSERT_TRUE(argmax(*cpu, {x.view(), want.view()}).is_ok());
      const Tensor dx = to_device(*cuda, x);
      auto out = cuda->allocate(DType::kI32, Shape{rows});
      ASSERT_TRUE(out.has_value());
      ASSERT_TRUE(argmax(*cuda, {dx.view(), out->view()}).is_ok());
      Tensor got = Tensor::host(DType::kI32, Shape{rows});
      ASSERT_TRUE(cuda->copy(got.view(), out->view()).is_ok());
      for (int64_t r = 0; r < rows; ++r)
        EXPECT_EQ(got.as<int32_t>()[r], want.as<int32_t>()[r]) << "row " << r;
    }
  }
}

}  // namespace
}  // namespace autoglm

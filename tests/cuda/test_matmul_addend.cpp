// matmul and matmul_swiglu with an addend (the residual add folded into the projection, ops/matmul.h) on
// CUDA equal the same call without it followed by the add, bit for bit, on every path: the GEMV (m = 1),
// the skinny GEMM (m = 1 batch-invariant, 8, 16), cuBLASLt (17, 130, 300: the addend as C with beta = 1),
// f32 and bf16 weights, f32 and 16-bit x, with a bias (added first, then the addend by a kernel) and
// without; out is written only inside its bounds and the addend is left as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/add.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;

// The weight and x dtypes of a case.
struct Operands {
  DType w;
  bool x_16bit;  // x in w's 16-bit type (the graph's 16-bit activations), else f32
};
const Operands kOperands[] = {{DType::kF32, false}, {DType::kBF16, false}, {DType::kBF16, true}};

// operands, m, bias, batch-invariant
using Case = std::tuple<Operands, int64_t, bool, bool>;

class CudaMatmulAddend : public ::testing::TestWithParam<Case> {};

TEST_P(CudaMatmulAddend, EqualsTheMatmulThenTheAdd) {
  const auto [operands, m, with_bias, invariant] = GetParam();
  const auto [dtype, x_16bit] = operands;
  const int64_t n = 320, k = 256;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const uint64_t seed = 700 + static_cast<uint64_t>(m);
  const Tensor x32 = random_tensor(DType::kF32, Shape{m, k}, seed, -2.0f, 2.0f);
  const Tensor x = x_16bit ? test::rounded_16bit(x32, dtype) : x32;
  const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
  const Tensor bias = random_tensor(DType::kF32, Shape{n}, seed + 2);
  const Tensor addend = random_tensor(DType::kF32, Shape{m, n}, seed + 3, -8.0f, 8.0f);
  const Tensor dx = test::to_device(*cuda, x), dw = test::to_device(*cuda, w),
               db = test::to_device(*cuda, bias);
  const Tensor da = test::to_device(*cuda, addend);
  const TensorView b = with_bias ? db.view() : TensorView{};

  GuardedDeviceOut plain(*cuda, Shape{m, n}), summed(*cuda, Shape{m, n}), fused(*cuda, Shape{m, n});
  ASSERT_TRUE(matmul(*cuda, {dx.view(), dw.view(), b, plain.view(), invariant}).is_ok());
  ASSERT_TRUE(add(*cuda, {da.view(), plain.view(), summed.view()}).is_ok());
  MatmulArgs args{dx.view(), dw.view(), b, fused.view(), invariant};
  args.addend = da.view();
  const Status s = matmul(*cuda, args);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_TRUE(cuda->synchronize().is_ok());
  fused.expect_clean();
  EXPECT_EQ(fused.values(), summed.values());
  const Tensor after = test::to_host(*cuda, da.view());
  EXPECT_EQ(std::memcmp(after.data(), addend.data(), addend.nbytes()), 0) << "the addend was written";
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulAddend,
                         ::testing::Combine(::testing::ValuesIn(kOperands),
                                            ::testing::Values<int64_t>(1, 8, 16, 17, 130, 300),
                                            ::testing::Bool(), ::testing::Bool()));

// operands (x = [gate | up]), m, bias
using SwigluCase = std::tuple<Operands, int64_t, bool>;

class CudaMatmulSwigluAddend : public ::testing::TestWithParam<SwigluCase> {};

TEST_P(CudaMatmulSwigluAddend, EqualsTheMatmulSwigluThenTheAdd) {
  const auto [operands, m, with_bias] = GetParam();
  const auto [dtype, x_16bit] = operands;
  const int64_t n = 192, k = 256;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const uint64_t seed = 800 + static_cast<uint64_t>(m);
  const Tensor x32 = random_tensor(DType::kF32, Shape{m, 2 * k}, seed, -3.0f, 3.0f);
  const Tensor x = x_16bit ? test::rounded_16bit(x32, dtype) : x32;
  const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
  const Tensor bias = random_tensor(DType::kF32, Shape{n}, seed + 2);
  const Tensor addend = random_tensor(DType::kF32, Shape{m, n}, seed + 3, -8.0f, 8.0f);
  const Tensor dx = test::to_device(*cuda, x), dw = test::to_device(*cuda, w),
               db = test::to_device(*cuda, bias);
  const Tensor da = test::to_device(*cuda, addend);
  const TensorView b = with_bias ? db.view() : TensorView{};

  GuardedDeviceOut plain(*cuda, Shape{m, n}), summed(*cuda, Shape{m, n}), fused(*cuda, Shape{m, n});
  ASSERT_TRUE(matmul_swiglu(*cuda, {dx.view(), dw.view(), b, plain.view(), true}).is_ok());
  ASSERT_TRUE(add(*cuda, {da.view(), plain.view(), summed.view()}).is_ok());
  MatmulSwigluArgs args{dx.view(), dw.view(), b, fused.view(), true};
  args.addend = da.view();
  const Status s = matmul_swiglu(*cuda, args);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_TRUE(cuda->synchronize().is_ok());
  fused.expect_clean();
  EXPECT_EQ(fused.values(), summed.values());
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulSwigluAddend,
                         ::testing::Combine(::testing::ValuesIn(kOperands),
                                            ::testing::Values<int64_t>(1, 8, 17, 300), ::testing::Bool()));

}  // namespace
}  // namespace autoglm

// The fused SiLU-gate matmul on CUDA equals CUDA swiglu followed by CUDA matmul bit for bit (the fusion only
// moves where the activation is formed), for every weight dtype on the GEMV, skinny GEMM and cuBLASLt paths,
// with and without bias; and stays within the plain matmul's tolerance of the CPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/matmul.h"
#include "ops/swiglu.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;

class CudaMatmulSwiglu : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t, bool>> {};

TEST_P(CudaMatmulSwiglu, EqualsSwigluThenMatmul) {
  const auto [dtype, m, k, with_bias] = GetParam();
  const int64_t n = 129;
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  const uint64_t seed = 1000 + static_cast<uint64_t>(m * 7 + k);
  const Tensor x = random_tensor(DType::kF32, Shape{m, 2 * k}, seed, -3.0f, 3.0f);
  const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
  const Tensor bias = random_tensor(DType::kF32, Shape{n}, seed + 2);
  const Tensor dx = test::to_device(*cuda, x), dw = test::to_device(*cuda, w),
               db = test::to_device(*cuda, bias);
  const TensorView b = with_bias ? db.view() : TensorView{};

  GuardedDeviceOut fused(*cuda, Shape{m, n});
  ASSERT_TRUE(matmul_swiglu(*cuda, {dx.view(), dw.view(), b, fused.view()}).is_ok());
  auto act = cuda->allocate(DType::kF32, Shape{m, k});
  ASSERT_TRUE(act.has_value());
  ASSERT_TRUE(swiglu(*cuda, {dx.view(), act->view()}).is_ok());
  GuardedDeviceOut plain(*cuda, Shape{m, n});
  ASSERT_TRUE(matmul(*cuda, {act->view(), dw.view(), b, plain.view()}).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  fused.expect_clean();
  EXPECT_EQ(fused.values(), plain.values());

  // And against the CPU's unfused path (same tolerance as the plain matmul test: rounding of x to the
  // weight type at m > 1 is not replayed on the CPU here, so allow the 16-bit rounding of the activation).
  auto cpu = test::make_cpu();
  Tensor cpu_act = Tensor::host(DType::kF32, Shape{m, k});
  ASSERT_TRUE(swiglu(*cpu, {x.view(), cpu_act.view()}).is_ok());
  Tensor cpu_out = Tensor::host(DType::kF32, Shape{m, n});
  ASSERT_TRUE(matmul(*cpu, {cpu_act.view(), w.view(), with_bias ? bias.view() : TensorView{}, cpu_out.view()})
                  .is_ok());
  const double tol = dtype != DType::kF32 && m > 1 ? 1e-2 : 1e-5;
  EXPECT_LE(test::rel_max_abs_error(fused.values(), test::to_f32(cpu_out.view())), tol);
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulSwiglu,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                                            ::testing::Values<int64_t>(1, 3, 8, 9, 16, 17, 130),
                                            // 66: not a multiple of 4, the conversion's elementwise form
                                            ::testing::Values<int64_t>(64, 66, 1000), ::testing::Bool()));

TEST(CudaMatmulSwiglu, RejectsAnXThatIsNotTwiceK) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  auto x = cuda->allocate(DType::kF32, Shape{2, 10});
  auto w = cuda->allocate(DType::kBF16, Shape{4, 6});
  auto out = cuda->allocate(DType::kF32, Shape{2, 4});
  ASSERT_TRUE(x.has_value() && w.has_value() && out.has_value());
  EXPECT_EQ(matmul_swiglu(*cuda, {x->view(), w->view(), {}, out->view()}).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

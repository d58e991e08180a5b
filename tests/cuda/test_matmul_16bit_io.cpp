// The gate/up output in 16 bits (graph/gate_up_output_pass.h) on CUDA:
//  * matmul with an out of w's 16-bit type is the f32 result rounded: within one 16-bit step of the CPU's
//    (which rounds its own f32 result) on every path (GEMV, skinny GEMM, cuBLASLt writing 16 bits itself),
//    for f32 and 16-bit x; nothing is written outside out.
//  * matmul_swiglu on a 16-bit x equals, bit for bit, matmul_swiglu on that x widened to f32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;

constexpr uint16_t kSentinel = 0x7FBF;  // a NaN in bf16 and f16 alike
constexpr int64_t kGuard = 64;

class CudaMatmul16BitOut : public ::testing::TestWithParam<std::tuple<DType, int64_t, bool>> {};

TEST_P(CudaMatmul16BitOut, IsTheRoundedF32Result) {
  const auto [dtype, m, x_16bit] = GetParam();
  const int64_t n = 640, k = 512;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  const uint64_t seed = 300 + static_cast<uint64_t>(m);
  const Tensor x32 = random_tensor(DType::kF32, Shape{m, k}, seed);
  const Tensor x = x_16bit ? test::rounded_16bit(x32, dtype) : x32;
  const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
  Tensor expected = Tensor::host(dtype, Shape{m, n});
  // The CPU reference on the x the GPU multiplies (rounded to the weight type at m > 1, or given so).
  const Tensor x_seen = m > 1 || x_16bit ? test::rounded_16bit(x32, dtype) : x32;
  ASSERT_TRUE(matmul(*cpu, {x_seen.view(), w.view(), {}, expected.view()}).is_ok());

  // out inside a guarded 16-bit buffer.
  std::vector<uint16_t> init(static_cast<size_t>(m * n + 2 * kGuard), kSentinel);
  const Tensor host_init(std::shared_ptr<void>(init.data(), [](void*) {}), dtype,
                         Shape{static_cast<int64_t>(init.size())}, Device{});
  const Tensor storage = test::to_device(*cuda, host_init);
  const TensorView out{static_cast<uint16_t*>(storage.data()) + kGuard, dtype, Shape{m, n}, storage.device()};
  const Tensor dx = test::to_device(*cuda, x), dw = test::to_device(*cuda, w);
  const Status status = matmul(*cuda, {dx.view(), dw.view(), {}, out});
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  ASSERT_TRUE(cuda->synchronize().is_ok());
  const Tensor all = test::to_host(*cuda, storage.view());
  const auto* bits = static_cast<const uint16_t*>(all.data());
  for (int64_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(bits[i], kSentinel) << "written before out at " << i;
    ASSERT_EQ(bits[kGuard + m * n + i], kSentinel) << "written after out at " << i;
  }
  const std::vector<float> got =
      test::to_f32(TensorView{const_cast<uint16_t*>(bits) + kGuard, dtype, Shape{m, n}, Device{}});
  const std::vector<float> want = test::to_f32(expected.view());
  // The f32 results differ by the accumulation order (within 1e-4 of the largest, as test_matmul.cpp
  // allows), and rounding moves each by at most one unit in its last place, at most 2^-7 of the value for
  // bf16 (8 significant bits), 2^-10 for f16 (11).
  const double step = dtype == DType::kBF16 ? 1.0 / 128 : 1.0 / 1024;
  double largest = 0;
  for (float v : want)
    largest = std::max(largest, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(got[i] - want[i]), std::abs(want[i]) * step + 1e-4 * largest)
        << "element " << i << ": " << got[i] << " against " << want[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmul16BitOut,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values<int64_t>(1, 2, 9, 16, 17, 128, 437),
                                            ::testing::Bool()));

TEST(CudaMatmul16BitOut, RejectsABias) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto x = cuda->allocate(DType::kBF16, Shape{4, 8});
  auto w = cuda->allocate(DType::kBF16, Shape{6, 8});
  auto bias = cuda->allocate(DType::kF32, Shape{6});
  auto out = cuda->allocate(DType::kBF16, Shape{4, 6});
  ASSERT_TRUE(x.has_value() && w.has_value() && bias.has_value() && out.has_value());
  EXPECT_EQ(matmul(*cuda, {x->view(), w->view(), bias->view(), out->view()}).code(),
            StatusCode::kInvalidArgument);
}

class CudaMatmulSwiglu16BitX : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t, bool>> {};

TEST_P(CudaMatmulSwiglu16BitX, EqualsTheWidenedX) {
  const auto [dtype, m, k, with_bias] = GetParam();
  const int64_t n = 129;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const uint64_t seed = 900 + static_cast<uint64_t>(m * 7 + k);
  const Tensor x16 =
      test::rounded_16bit(random_tensor(DType::kF32, Shape{m, 2 * k}, seed, -3.0f, 3.0f), dtype);
  Tensor wide = Tensor::host(DType::kF32, x16.shape());
  const std::vector<float> widened = test::to_f32(x16.view());
  std::memcpy(wide.data(), widened.data(), widened.size() * sizeof(float));
  const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
  const Tensor bias = random_tensor(DType::kF32, Shape{n}, seed + 2);
  const Tensor d16 = test::to_device(*cuda, x16), d32 = test::to_device(*cuda, wide);
  const Tensor dw = test::to_device(*cuda, w), db = test::to_device(*cuda, bias);
  const TensorView b = with_bias ? db.view() : TensorView{};
  GuardedDeviceOut from16(*cuda, Shape{m, n}), from32(*cuda, Shape{m, n});
  const Status status = matmul_swiglu(*cuda, {d16.view(), dw.view(), b, from16.view()});
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  ASSERT_TRUE(matmul_swiglu(*cuda, {d32.view(), dw.view(), b, from32.view()}).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  from16.expect_clean();
  EXPECT_EQ(from16.values(), from32.values());
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulSwiglu16BitX,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values<int64_t>(1, 3, 9, 16, 17, 130),
                                            // 66: not a multiple of 4, the conversion's elementwise form
                                            ::testing::Values<int64_t>(64, 66, 1000), ::testing::Bool()));

}  // namespace
}  // namespace autoglm

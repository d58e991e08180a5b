// The cuBLASLt path with algorithms chosen by timing once per row-count bucket (kernels/matmul_cublaslt.h):
// every row count of a bucket, the one that chose and the others that reuse its choice, matches the CPU;
// repeated calls give the same bits; a backend that does not tune asks for no warm-up.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;
using test::rel_max_abs_error;

std::unique_ptr<Backend> make_cuda(bool tune) {
  BackendOptions options;
  options.tune_gemms = tune;
  return test::make_cuda(options);
}

std::vector<float> run(Backend& cuda, const Tensor& x, const Tensor& w, const Tensor& bias) {
  const Tensor x_d = test::to_device(cuda, x);
  const Tensor w_d = test::to_device(cuda, w);
  const Tensor bias_d = bias.defined() ? test::to_device(cuda, bias) : Tensor{};
  GuardedDeviceOut out(cuda, Shape{x.shape()[0], w.shape()[0]});
  const Status status =
      matmul(cuda, {x_d.view(), w_d.view(), bias.defined() ? bias_d.view() : TensorView{}, out.view()});
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  const Status synced = cuda.synchronize();
  EXPECT_TRUE(synced.is_ok()) << synced.to_string();
  out.expect_clean();
  return out.values();
}

// Tolerance as in test_matmul.cpp for 16-bit weights at m > 1: f32 accumulation in another order.
constexpr double kTolerance = 1e-4;

TEST(CudaMatmulTuning, EveryRowCountOfABucketMatchesTheCpu) {
  auto cuda = make_cuda(true);
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  const int64_t n = 640, k = 512;
  // 130 and 191 reuse 192's bucket choice if 192 came first, and 437 reuses 448's; 128 is the first tuned
  // size; 1,025 and 2,100 fall in the wider buckets.
  const int64_t row_counts[] = {192, 130, 191, 128, 448, 437, 1025, 2100};
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const bool with_bias : {false, true}) {
      for (const int64_t m : row_counts) {
        SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " m " << m << (with_bias ? " bias" : ""));
        const uint64_t seed = 700 + static_cast<uint64_t>(m) + (with_bias ? 1 : 0);
        const Tensor x = random_tensor(DType::kF32, Shape{m, k}, seed);
        const Tensor w = random_tensor(dtype, Shape{n, k}, seed + 1);
        const Tensor bias = with_bias ? random_tensor(DType::kF32, Shape{n}, seed + 2) : Tensor{};
        Tensor expected = Tensor::host(DType::kF32, Shape{m, n});
        const Tensor x_ref = test::rounded_f32(x, dtype);
        ASSERT_TRUE(
            matmul(*cpu, {x_ref.view(), w.view(), with_bias ? bias.view() : TensorView{}, expected.view()})
                .is_ok());
        const std::vector<float> got = run(*cuda, x, w, bias);
        if (HasFatalFailure()) return;
        EXPECT_LE(rel_max_abs_error(got, test::to_f32(expected.view())), kTolerance);
      }
    }
  }
}

// GEMMs planned for part of the device (BackendOptions::gemm_sm_count, for kernels running beside them) are
// the same products: they match the CPU as the whole-device plans do, tuned or not.
TEST(CudaMatmulTuning, GemmsPlannedForFewerSmsMatchTheCpu) {
  auto cpu = test::make_cpu(4);
  const int64_t n = 1024, k = 512;
  for (const bool tune : {true, false}) {
    BackendOptions options;
    options.tune_gemms = tune;
    options.gemm_sm_count = 40;
    auto cuda = test::make_cuda(options);
    ASSERT_NE(cuda, nullptr);
    for (const int64_t m : {int64_t{256}, int64_t{1025}}) {
      SCOPED_TRACE(::testing::Message() << "m " << m << (tune ? " tuned" : ""));
      const Tensor x = random_tensor(DType::kF32, Shape{m, k}, 900 + static_cast<uint64_t>(m));
      const Tensor w = random_tensor(DType::kBF16, Shape{n, k}, 901);
      const Tensor bias = random_tensor(DType::kF32, Shape{n}, 902);
      Tensor expected = Tensor::host(DType::kF32, Shape{m, n});
      const Tensor x_ref = test::rounded_f32(x, DType::kBF16);
      ASSERT_TRUE(matmul(*cpu, {x_ref.view(), w.view(), bias.view(), expected.view()}).is_ok());
      const std::vector<float> got = run(*cuda, x, w, bias);
      if (HasFatalFailure()) return;
      EXPECT_LE(rel_max_abs_error(got, test::to_f32(expected.view())), kTolerance);
    }
  }
}

TEST(CudaMatmulTuning, RepeatedCallsGiveTheSameBits) {
  auto cuda = make_cuda(true);
  ASSERT_NE(cuda, nullptr);
  const Tensor x = random_tensor(DType::kF32, Shape{437, 1024}, 81);
  const Tensor w = random_tensor(DType::kBF16, Shape{2048, 1024}, 82);
  const std::vector<float> first = run(*cuda, x, w, Tensor{});
  const std::vector<float> second = run(*cuda, x, w, Tensor{});
  ASSERT_EQ(first.size(), second.size());
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0);
  // The heuristic's first choice (no tuning) computes the same product.
  auto plain = make_cuda(false);
  ASSERT_NE(plain, nullptr);
  EXPECT_LE(rel_max_abs_error(run(*plain, x, w, Tensor{}), first), kTolerance);
}

TEST(CudaMatmulTuning, WarmUpRowsCoverTheTunedStepSizes) {
  auto cuda = make_cuda(true);
  ASSERT_NE(cuda, nullptr);
  const std::vector<int64_t> rows = cuda->warm_up_rows(8192);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front(), 128);
  EXPECT_EQ(rows.back(), 8192);
  for (size_t i = 1; i < rows.size(); ++i)
    EXPECT_GT(rows[i], rows[i - 1]);
  EXPECT_EQ(cuda->warm_up_rows(3000).back(), 3000);  // the largest step, not its bucket's end
  EXPECT_TRUE(cuda->warm_up_rows(127).empty());
  auto plain = make_cuda(false);
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(plain->warm_up_rows(8192).empty());
}

}  // namespace
}  // namespace autoglm

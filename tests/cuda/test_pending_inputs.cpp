// What scheduling ahead needs from the CUDA backend: fill_pending_tokens on the device (against the CPU
// kernel), and copies to the host that are queued without waiting for the stream and land in order, several
// at a time, with the work queued after them still running.
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/fill_pending_tokens.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

TEST(CudaFillPendingTokens, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(3);
  for (int64_t n : {1, 7, 256, 1000}) {
    for (int64_t m : {0, 1, 200}) {
      Tensor ids = Tensor::host(DType::kI32, Shape{n});
      for (int64_t i = 0; i < n; ++i)
        ids.as<int32_t>()[i] =
            static_cast<int32_t>(rng() % 3 == 0 ? -1 - static_cast<int64_t>(rng() % (m + 2)) : rng() % 1000);
      Tensor choices = Tensor::host(DType::kI32, Shape{std::max<int64_t>(m, 1)});
      for (int64_t i = 0; i < m; ++i)
        choices.as<int32_t>()[i] = static_cast<int32_t>(5000 + rng() % 1000);
      const TensorView choice_view = choices.view().rows(0, m);
      Tensor device_ids = to_device(*cuda, ids);
      const Tensor device_choices = to_device(*cuda, choices);
      ASSERT_TRUE(fill_pending_tokens(*cpu, {ids.view(), choice_view}).is_ok());
      ASSERT_TRUE(fill_pending_tokens(*cuda, {device_ids.view(), device_choices.view().rows(0, m)}).is_ok());
      Tensor got = Tensor::host(DType::kI32, Shape{n});
      ASSERT_TRUE(cuda->copy(got.view(), device_ids.view()).is_ok());
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(got.as<int32_t>()[i], ids.as<int32_t>()[i]) << "n " << n << " m " << m << " at " << i;
    }
  }
}

TEST(CudaCopyToHostAsync, LandsWhileLaterWorkRuns) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  constexpr int64_t kN = 4096;
  std::vector<std::unique_ptr<PendingCopy>> copies;
  std::vector<std::vector<int32_t>> dst(3, std::vector<int32_t>(kN, -1));
  std::vector<Tensor> sources;
  for (int k = 0; k < 3; ++k) {
    Tensor host = Tensor::host(DType::kI32, Shape{kN});
    std::iota(host.as<int32_t>(), host.as<int32_t>() + kN, 1000 * k);
    sources.push_back(to_device(*cuda, host));
    Expected<std::unique_ptr<PendingCopy>> copy = cuda->copy_to_host_async(
        TensorView{dst[static_cast<size_t>(k)].data(), DType::kI32, Shape{kN}, Device{}},
        sources.back().view());
    ASSERT_TRUE(copy.has_value()) << copy.status().to_string();
    copies.push_back(std::move(copy).value());
  }
  // Work queued after the copies: a few large GEMMs the waits must not wait for.
  const int64_t d = 4096;
  auto a = cuda->allocate(DType::kBF16, Shape{d, d});
  auto w = cuda->allocate(DType::kBF16, Shape{d, d});
  auto out = cuda->allocate(DType::kF32, Shape{d, d});
  ASSERT_TRUE(a.has_value() && w.has_value() && out.has_value());
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(matmul(*cuda, {a->view(), w->view(), {}, out->view()}).is_ok());
  for (int k = 2; k >= 0; --k) {  // any order
    ASSERT_TRUE(copies[static_cast<size_t>(k)]->wait().is_ok());
    for (int64_t i = 0; i < kN; ++i)
      ASSERT_EQ(dst[static_cast<size_t>(k)][static_cast<size_t>(i)], 1000 * k + i);
  }
  EXPECT_TRUE(copies[0]->wait().is_ok());  // again: the same status
  // A handle dropped without a wait frees its buffer for the next copy.
  {
    std::vector<int32_t> ignored(kN);
    auto dropped = cuda->copy_to_host_async(TensorView{ignored.data(), DType::kI32, Shape{kN}, Device{}},
                                            sources[0].view());
    ASSERT_TRUE(dropped.has_value());
  }
  ASSERT_TRUE(cuda->synchronize().is_ok());
  std::vector<int32_t> small(2);
  EXPECT_FALSE(
      cuda->copy_to_host_async(TensorView{small.data(), DType::kI32, Shape{2}, Device{}}, sources[0].view())
          .has_value());
}

}  // namespace
}  // namespace autoglm

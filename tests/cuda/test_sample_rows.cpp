// sample_rows on the GPU against the CPU kernel: greedy rows exact; sampled rows (temperatures, top_k,
// nuclei, min_p, uniforms) the same ids except where a uniform lands within rounding of a CDF or nucleus
// boundary (sums in another order), on vocabulary-sized and odd rows, with NaN and infinities; top_k rows
// drawn at the middle of each kept id's interval exact (the mask is the same set of ids on both); every id
// written once into a poisoned, guarded output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

constexpr int32_t kPoisonId = static_cast<int32_t>(0x7fc0beef);
constexpr int32_t kGuardId = static_cast<int32_t>(0x7fc0dead);

// sample_rows on the device into an output poisoned inside and guarded by sentinel ids on both sides: a row
// left unwritten, an id out of range or a write past either end fails the test.
std::vector<int32_t> device_sample(Backend& cuda, const Tensor& x, const Tensor& params) {
  const int64_t rows = x.shape()[0], c = x.shape()[1];
  std::vector<int32_t> init(static_cast<size_t>(rows + 2 * test::kGuard), kGuardId);
  std::fill(init.begin() + test::kGuard, init.end() - test::kGuard, kPoisonId);
  Tensor host_init(std::shared_ptr<void>(init.data(), [](void*) {}), DType::kI32,
                   Shape{static_cast<int64_t>(init.size())}, Device{});
  const Tensor storage = to_device(cuda, host_init);
  const TensorView out{static_cast<int32_t*>(storage.data()) + test::kGuard, DType::kI32, Shape{rows},
                       storage.device()};
  const Tensor dx = to_device(cuda, x);
  const Tensor dparams = to_device(cuda, params);
  const Status s = sample_rows(cuda, {dx.view(), dparams.view(), out});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  const Tensor all = test::to_host(cuda, storage.view());
  const int32_t* p = all.as<const int32_t>();
  for (int64_t i = 0; i < test::kGuard; ++i) {
    EXPECT_EQ(p[i], kGuardId) << "guard before the output written at " << i;
    EXPECT_EQ(p[test::kGuard + rows + i], kGuardId) << "guard after the output written at " << i;
  }
  std::vector<int32_t> ids(p + test::kGuard, p + test::kGuard + rows);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_GE(ids[r], 0) << "row " << r;
    EXPECT_LT(ids[r], c) << "row " << r;
  }
  return ids;
}

TEST(CudaSampleRows, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  int64_t sampled = 0, differ = 0;
  for (int64_t c : {1, 3, 1025, 32000, 128256}) {
    const int64_t rows = c > 100000 ? 64 : 96;
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(c));
    Tensor x = Tensor::host(DType::kF32, Shape{rows, c});
    Tensor params = Tensor::host(DType::kF32, Shape{rows, kSampleRowsParams});
    float* v = x.as<float>();
    for (int64_t i = 0; i < rows * c; ++i)
      v[i] = normal(rng);
    for (int k = 0; k < 6; ++k)
      v[rng() % static_cast<uint64_t>(rows * c)] = k % 2 ? std::nanf("") : -__builtin_inff();
    if (c > 3) v[2 * c + 7] = __builtin_inff();  // row 2: +inf takes all the mass
    const float top_ps[] = {1.0f, 0.95f, 0.5f, 0.01f};
    const float min_ps[] = {0.0f, 0.0f, 0.05f};
    const float top_ks[] = {0.0f, 0.0f, 1.0f, 7.0f, 50.0f, static_cast<float>(c - 1), static_cast<float>(c)};
    for (int64_t r = 0; r < rows; ++r) {
      float* q = params.as<float>() + r * kSampleRowsParams;
      q[0] = r % 5 == 0 ? 0.0f : 0.3f + 1.2f * unit(rng);
      q[1] = top_ps[r % 4];
      q[2] = min_ps[r % 3];
      q[3] = unit(rng);
      q[4] = top_ks[r % 7];
    }
    Tensor want = Tensor::host(DType::kI32, Shape{rows});
    ASSERT_TRUE(sample_rows(*cpu, {x.view(), params.view(), want.view()}).is_ok());
    const std::vector<int32_t> got = device_sample(*cuda, x, params);
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t g = got[static_cast<size_t>(r)], w = want.as<int32_t>()[r];
      const float* q = params.as<float>() + r * kSampleRowsParams;
      // Greedy, +inf, and k = 1 (one token left, random logits do not tie) rows are exact.
      if (q[0] <= 0.0f || (c > 3 && r == 2) || q[4] == 1.0f) {
        EXPECT_EQ(g, w) << "greedy or +inf row " << r;
      } else {
        ++sampled;
        differ += g != w;
      }
    }
  }
  // Rounding can move a boundary by an ulp or two; a real disagreement shows in many rows.
  std::printf("sampled rows: %lld, different ids: %lld\n", static_cast<long long>(sampled),
              static_cast<long long>(differ));
  EXPECT_LE(differ * 100, sampled);
}

// The draw follows the distribution: 4,000 uniforms over one row give every kept id its share.
TEST(CudaSampleRows, FrequenciesFollowTheTemperedDistribution) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const int64_t c = 50, rows = 4000;
  std::vector<float> logits(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i)
    logits[static_cast<size_t>(i)] = std::sin(static_cast<float>(i)) * 2.0f;
  Tensor x = Tensor::host(DType::kF32, Shape{rows, c});
  Tensor params = Tensor::host(DType::kF32, Shape{rows, kSampleRowsParams});
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(logits.begin(), logits.end(), x.as<float>() + r * c);
    float* q = params.as<float>() + r * kSampleRowsParams;
    q[0] = 0.7f;
    q[1] = 1.0f;
    q[2] = 0.0f;
    q[3] = (static_cast<float>(r) + 0.5f) / static_cast<float>(rows);
    q[4] = 0.0f;
  }
  const Tensor dx = to_device(*cuda, x);
  const Tensor dparams = to_device(*cuda, params);
  auto out = cuda->allocate(DType::kI32, Shape{rows});
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE(sample_rows(*cuda, {dx.view(), dparams.view(), out->view()}).is_ok());
  Tensor got = Tensor::host(DType::kI32, Shape{rows});
  ASSERT_TRUE(cuda->copy(got.view(), out->view()).is_ok());
  std::vector<double> p(static_cast<size_t>(c));
  double z = 0;
  for (int64_t i = 0; i < c; ++i)
    z += p[static_cast<size_t>(i)] = std::exp(logits[static_cast<size_t>(i)] / 0.7);
  std::vector<int64_t> count(static_cast<size_t>(c));
  for (int64_t r = 0; r < rows; ++r)
    ++count[static_cast<size_t>(got.as<int32_t>()[r])];
  for (int64_t i = 0; i < c; ++i)
    EXPECT_NEAR(static_cast<double>(count[static_cast<size_t>(i)]) / rows, p[static_cast<size_t>(i)] / z,
                0.001)
        << "id " << i;
}

// top_k on rows of few distinct values (ties at the k-th value) and of continuous ones, with NaN and -inf, at
// odd and vocabulary sizes: each row drawn at the middle of one kept id's interval of the CPU kernel's
// distribution (p computed as both kernels do), so the ids are equal unless the masks differ.
TEST(CudaSampleRows, TopKMatchesCpuExactly) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(29);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t c : {1, 3, 127, 4097, 128256}) {
    SCOPED_TRACE("c " + std::to_string(c));
    const int64_t rows = 48;
    Tensor x = Tensor::host(DType::kF32, Shape{rows, c});
    Tensor params = Tensor::host(DType::kF32, Shape{rows, kSampleRowsParams});
    const float temperatures[] = {1.0f, 0.6f, 30.0f};
    const int64_t ks[] = {1, 2, 3, 40, c / 2, c - 1, c, c + 3};
    for (int64_t r = 0; r < rows; ++r) {
      float* v = x.as<float>() + r * c;
      // Odd rows: few distinct values (the search ends on ties); even rows: continuous values (it ends among
      // the few keys gathered in shared memory).
      for (int64_t i = 0; i < c; ++i)
        v[i] = r % 2 ? static_cast<float>(static_cast<int>(rng() % 13) - 6) * 0.5f : normal(rng);
      if (c > 3) {
        for (int j = 0; j < 4; ++j)
          v[rng() % c] = j % 2 ? std::nanf("") : -__builtin_inff();
      }
      float* q = params.as<float>() + r * kSampleRowsParams;
      q[0] = temperatures[r % 3];
      q[1] = 1.0f;
      q[2] = 0.0f;
      q[4] = static_cast<float>(ks[(r / 3) % 8]);
      // The kept set as the host masks it (NaN as -inf, x / t strictly below the k-th largest), weights as
      // the kernels compute them; the uniform at the middle of a random kept id's interval.
      const float t = q[0];
      std::vector<float> scaled(static_cast<size_t>(c));
      float max_value = -__builtin_inff();
      for (int64_t i = 0; i < c; ++i) {
        scaled[i] = std::isnan(v[i]) ? -__builtin_inff() : v[i] / t;
        if (!std::isnan(v[i])) max_value = std::max(max_value, v[i]);
      }
      const auto k = static_cast<int64_t>(q[4]);
      float kth = -__builtin_inff();  // k < 1 or k >= c masks nothing
      if (k >= 1 && k < c) {
        std::vector<float> sorted = scaled;
        std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
        kth = sorted[k - 1];
      }
      std::vector<double> w(static_cast<size_t>(c), 0.0);
      double total = 0;
      for (int64_t i = 0; i < c; ++i) {
        if (scaled[i] >= kth && v[i] > -__builtin_inff()) w[i] = std::exp((v[i] - max_value) / t);
        total += w[i];
      }
      // Ids of weight >= 1e-3 of the top one: a tinier interval could be moved by the rounding of 128k
      // summands in another order (the max itself always qualifies).
      std::vector<int64_t> kept;
      for (int64_t i = 0; i < c; ++i)
        if (w[i] >= 1e-3) kept.push_back(i);
      const int64_t pick = kept[rng() % kept.size()];
      double before = 0;
      for (int64_t i = 0; i < pick; ++i)
        before += w[i];
      q[3] = static_cast<float>((before + w[pick] / 2) / total);
    }
    Tensor want = Tensor::host(DType::kI32, Shape{rows});
    ASSERT_TRUE(sample_rows(*cpu, {x.view(), params.view(), want.view()}).is_ok());
    const std::vector<int32_t> got = device_sample(*cuda, x, params);
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(got[static_cast<size_t>(r)], want.as<int32_t>()[r]) << "row " << r;
  }
}

}  // namespace
}  // namespace autoglm

// sample_rows on the GPU against the CPU kernel: greedy rows exact; sampled rows (temperatures, nuclei,
// min_p, uniforms) the same ids except where a uniform lands within rounding of a CDF or nucleus boundary
// (sums in another order), on vocabulary-sized and odd rows, with NaN and infinities.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

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
    Tensor params = Tensor::host(DType::kF32, Shape{rows, 4});
    float* v = x.as<float>();
    for (int64_t i = 0; i < rows * c; ++i)
      v[i] = normal(rng);
    for (int k = 0; k < 6; ++k)
      v[rng() % static_cast<uint64_t>(rows * c)] = k % 2 ? std::nanf("") : -__builtin_inff();
    if (c > 3) v[2 * c + 7] = __builtin_inff();  // row 2: +inf takes all the mass
    const float top_ps[] = {1.0f, 0.95f, 0.5f, 0.01f};
    const float min_ps[] = {0.0f, 0.0f, 0.05f};
    for (int64_t r = 0; r < rows; ++r) {
      float* q = params.as<float>() + r * 4;
      q[0] = r % 5 == 0 ? 0.0f : 0.3f + 1.2f * unit(rng);
      q[1] = top_ps[r % 4];
      q[2] = min_ps[r % 3];
      q[3] = unit(rng);
    }
    Tensor want = Tensor::host(DType::kI32, Shape{rows});
    ASSERT_TRUE(sample_rows(*cpu, {x.view(), params.view(), want.view()}).is_ok());
    const Tensor dx = to_device(*cuda, x);
    const Tensor dparams = to_device(*cuda, params);
    auto out = cuda->allocate(DType::kI32, Shape{rows});
    ASSERT_TRUE(out.has_value());
    ASSERT_TRUE(sample_rows(*cuda, {dx.view(), dparams.view(), out->view()}).is_ok());
    Tensor got = Tensor::host(DType::kI32, Shape{rows});
    ASSERT_TRUE(cuda->copy(got.view(), out->view()).is_ok());
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t g = got.as<int32_t>()[r], w = want.as<int32_t>()[r];
      ASSERT_GE(g, 0);
      ASSERT_LT(g, c);
      if (params.as<float>()[r * 4] <= 0.0f || (c > 3 && r == 2)) {
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
  Tensor params = Tensor::host(DType::kF32, Shape{rows, 4});
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(logits.begin(), logits.end(), x.as<float>() + r * c);
    float* q = params.as<float>() + r * 4;
    q[0] = 0.7f;
    q[1] = 1.0f;
    q[2] = 0.0f;
    q[3] = (static_cast<float>(r) + 0.5f) / static_cast<float>(rows);
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

}  // namespace
}  // namespace autoglm

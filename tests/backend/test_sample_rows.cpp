// sample_rows on the CPU backend (the reference of the CUDA kernel): greedy rows are the argmax; the draw is
// the inverse CDF of the tempered distribution in id order; top_p keeps the smallest most-likely set reaching
// the mass, min_p drops tokens below min_p of the top probability; +inf logits share the mass; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/argmax.h"
#include "ops/sample_rows.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Row {
  float temperature = 1, top_p = 1, min_p = 0, uniform = 0;
};

std::vector<int32_t> run(const std::vector<float>& x, int64_t c, const std::vector<Row>& rows) {
  auto cpu = make_cpu();
  const auto n = static_cast<int64_t>(rows.size());
  std::vector<float> params;
  for (const Row& r : rows)
    params.insert(params.end(), {r.temperature, r.top_p, r.min_p, r.uniform});
  std::vector<int32_t> out(rows.size(), -7);
  const Status s =
      sample_rows(*cpu, {TensorView{const_cast<float*>(x.data()), DType::kF32, Shape{n, c}, Device{}},
                         TensorView{params.data(), DType::kF32, Shape{n, 4}, Device{}},
                         TensorView{out.data(), DType::kI32, Shape{n}, Device{}}});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

// One row repeated with every uniform of the list.
std::vector<int32_t> draws(const std::vector<float>& logits, Row row, const std::vector<float>& uniforms) {
  std::vector<float> x;
  std::vector<Row> rows;
  for (float u : uniforms) {
    x.insert(x.end(), logits.begin(), logits.end());
    row.uniform = u;
    rows.push_back(row);
  }
  return run(x, static_cast<int64_t>(logits.size()), rows);
}

TEST(SampleRows, GreedyRowsAreTheArgmax) {
  std::mt19937 rng(3);
  const int64_t rows = 40, c = 1000;
  std::vector<float> x(static_cast<size_t>(rows * c));
  for (float& v : x)
    v = static_cast<float>(static_cast<int>(rng() % 20));
  x[5] = std::nanf("");
  x[1003] = -kInf;
  x[2000] = kInf;
  std::vector<Row> params(static_cast<size_t>(rows), Row{0, 0.5f, 0.1f, 0.7f});
  const std::vector<int32_t> got = run(x, c, params);
  std::vector<int32_t> want(static_cast<size_t>(rows));
  auto cpu = make_cpu();
  ASSERT_TRUE(argmax(*cpu, {TensorView{x.data(), DType::kF32, Shape{rows, c}, Device{}},
                            TensorView{want.data(), DType::kI32, Shape{rows}, Device{}}})
                  .is_ok());
  EXPECT_EQ(got, want);
  // A row of nothing but NaN and -inf gives 0, whatever the sampling.
  EXPECT_EQ(draws({std::nanf(""), -kInf, std::nanf("")}, Row{1, 1, 0, 0}, {0.0f, 0.9f}),
            (std::vector<int32_t>{0, 0}));
}

TEST(SampleRows, DrawIsTheInverseCdfInIdOrder) {
  // p proportional to 1, 2, 3, 4 (logits log k): the CDF steps at 0.1, 0.3, 0.6.
  const std::vector<float> logits = {std::log(1.0f), std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  const std::vector<float> u = {0.0f, 0.05f, 0.099f, 0.101f, 0.29f, 0.31f, 0.59f, 0.61f, 0.99f, 0.999999f};
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0}, u), (std::vector<int32_t>{0, 0, 0, 1, 1, 2, 2, 3, 3, 3}));
  // Temperature 0.5 squares the ratios: 1, 4, 9, 16 over 30; steps at 1/30, 5/30, 14/30.
  EXPECT_EQ(draws(logits, Row{0.5f, 1, 0, 0}, {0.03f, 0.04f, 0.16f, 0.17f, 0.46f, 0.47f}),
            (std::vector<int32_t>{0, 1, 1, 2, 2, 3}));
}

TEST(SampleRows, TopPAndMinPMasks) {
  // p = 0.5, 0.3, 0.15, 0.05 (ids 2, 0, 3, 1).
  const std::vector<float> logits = {std::log(0.3f), std::log(0.05f), std::log(0.5f), std::log(0.15f)};
  std::vector<float> u;
  for (int i = 0; i < 100; ++i)
    u.push_back((static_cast<float>(i) + 0.5f) / 100.0f);
  // top_p 0.7 keeps {0.5, 0.3}: id 0 first in id order (mass 0.3 / 0.8), then id 2.
  const std::vector<int32_t> top = draws(logits, Row{1, 0.7f, 0, 0}, u);
  for (size_t i = 0; i < u.size(); ++i)
    EXPECT_EQ(top[i], u[i] < 0.375f ? 0 : 2) << u[i];
  // top_p tiny keeps the most likely token only.
  for (int32_t id : draws(logits, Row{1, 1e-6f, 0, 0}, u))
    EXPECT_EQ(id, 2);
  // min_p 0.5 keeps p >= 0.25 (ids 0 and 2), the same split.
  const std::vector<int32_t> minp = draws(logits, Row{1, 1, 0.5f, 0}, u);
  EXPECT_EQ(minp, top);
  // Both: top_p 0.95 keeps {2, 0, 3}, min_p 0.4 then drops id 3.
  EXPECT_EQ(draws(logits, Row{1, 0.95f, 0.4f, 0}, u), top);
}

TEST(SampleRows, InfiniteLogitsShareTheMass) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, kInf, 0.0f, 5.0f, 1.0f, kInf};
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0}, {0.0f, 0.49f, 0.51f, 0.99f}), (std::vector<int32_t>{3, 3, 7, 7}));
  EXPECT_EQ(draws(logits, Row{0, 1, 0, 0}, {0.99f}), (std::vector<int32_t>{3}));
}

TEST(SampleRows, RejectsBadShapes) {
  auto cpu = make_cpu();
  std::vector<float> x(8), params(4);
  std::vector<int32_t> out(2);
  EXPECT_FALSE(sample_rows(*cpu, {TensorView{x.data(), DType::kF32, Shape{2, 4}, Device{}},
                                  TensorView{params.data(), DType::kF32, Shape{1, 4}, Device{}},
                                  TensorView{out.data(), DType::kI32, Shape{2}, Device{}}})
                   .is_ok());
}

}  // namespace
}  // namespace autoglm

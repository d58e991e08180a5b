// sample_rows on the CPU backend (the reference of the CUDA kernel): greedy rows are the argmax; the draw is
// the inverse CDF of the tempered distribution in id order; top_k masks exactly what the host sampler's
// apply_top_k masks (ties at the boundary, NaN and -inf, k = 1, k >= vocabulary), before top_p; top_p keeps
// the smallest most-likely set reaching the mass, min_p drops tokens below min_p of the top probability;
// +inf logits share the mass; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/argmax.h"
#include "ops/sample_rows.h"
#include "sampling/logits_processors.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Row {
  float temperature = 1, top_p = 1, min_p = 0, uniform = 0, top_k = 0;
};

std::vector<int32_t> run(const std::vector<float>& x, int64_t c, const std::vector<Row>& rows) {
  auto cpu = make_cpu();
  const auto n = static_cast<int64_t>(rows.size());
  std::vector<float> params;
  for (const Row& r : rows)
    params.insert(params.end(), {r.temperature, r.top_p, r.min_p, r.uniform, r.top_k});
  std::vector<int32_t> out(rows.size(), -7);
  const Status s =
      sample_rows(*cpu, {TensorView{const_cast<float*>(x.data()), DType::kF32, Shape{n, c}, Device{}},
                         TensorView{params.data(), DType::kF32, Shape{n, kSampleRowsParams}, Device{}},
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
  std::vector<Row> params(static_cast<size_t>(rows), Row{0, 0.5f, 0.1f, 0.7f, 3});  // greedy: masks ignored
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

// The host sampler's choice after its top-k mask: NaN -> -inf, temperature, apply_top_k, then the inverse CDF
// in id order (sampling/logits_processors.h).
int32_t host_top_k_draw(const std::vector<float>& logits, float temperature, int32_t top_k, double uniform) {
  std::vector<float> v = logits;
  replace_nan_with_neg_inf(v);
  apply_temperature(v, temperature);
  apply_top_k(v, top_k);
  return draw_from_logits(v, uniform);
}

// Uniforms at the middle of every id's interval of the host's CDF after its top-k mask (weights from the same
// masked, divided row), so the kernel must return exactly the id the host does; with near-equal weights an
// id kept by one and masked by the other shifts every later interval by about half a step.
std::vector<float> midpoint_uniforms(const std::vector<float>& logits, float temperature, int32_t top_k) {
  std::vector<float> v = logits;
  replace_nan_with_neg_inf(v);
  apply_temperature(v, temperature);
  apply_top_k(v, top_k);
  float max_value = -kInf;
  for (float x : v)
    max_value = std::max(max_value, x);
  std::vector<double> w(v.size(), 0.0);
  double total = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (max_value == kInf) {
      w[i] = v[i] == kInf ? 1.0 : 0.0;
    } else if (v[i] > -kInf) {
      w[i] = std::exp(static_cast<double>(v[i]) - max_value);
    }
    total += w[i];
  }
  std::vector<float> u;
  double before = 0;
  for (double wi : w) {
    if (wi > 0) u.push_back(static_cast<float>((before + wi / 2) / total));
    before += wi;
  }
  return u;
}

// Random rows of few distinct values (many ties at every k-th value), with NaN and -inf, against the host:
// each kept id drawn at its own CDF midpoint, k from 1 to past the vocabulary.
TEST(SampleRows, TopKMasksWhatTheHostMasks) {
  std::mt19937 rng(5);
  int64_t checked = 0;
  for (int64_t c : {1, 2, 7, 100, 1000, 4097}) {
    for (float temperature : {1.0f, 0.7f, 40.0f}) {
      for (int trial = 0; trial < 3; ++trial) {
        std::vector<float> logits(static_cast<size_t>(c));
        for (float& v : logits)
          v = static_cast<float>(static_cast<int>(rng() % 9) - 4) * (trial == 2 ? 0.37f : 1.0f);
        if (trial > 0 && c > 2) {
          for (int j = 0; j < 1 + c / 20; ++j)
            logits[rng() % c] = j % 2 ? std::nanf("") : -kInf;
        }
        for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, c / 3, c / 2, c - 1, c, c + 5, int64_t{0}}) {
          SCOPED_TRACE("c " + std::to_string(c) + " temperature " + std::to_string(temperature) + " trial " +
                       std::to_string(trial) + " k " + std::to_string(k));
          const auto k32 = static_cast<int32_t>(k);
          const std::vector<float> all = midpoint_uniforms(logits, temperature, k32);
          // About 64 intervals spread over the kept ids, the last always: a token kept by one side only
          // shifts the intervals after it (or, past the last, the last one's target into it).
          std::vector<float> u;
          const size_t stride = (all.size() + 63) / 64;
          for (size_t i = 0; i < all.size(); i += stride)
            u.push_back(all[i]);
          if (!all.empty() && u.back() != all.back()) u.push_back(all.back());
          if (u.empty()) u.push_back(0.5f);
          const std::vector<int32_t> got = draws(logits, Row{temperature, 1, 0, 0, static_cast<float>(k)}, u);
          for (size_t i = 0; i < u.size(); ++i) {
            ASSERT_EQ(got[i], host_top_k_draw(logits, temperature, k32, u[i])) << "uniform " << u[i];
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 3000);
}

TEST(SampleRows, TopKKeepsEveryTieAtTheBoundary) {
  // Sorted: 3, 3, 3, 2, 1. k = 2 stops inside the run of 3s: all three stay, at equal mass.
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, 2}, {0.1f, 0.4f, 0.9f}), (std::vector<int32_t>{1, 3, 4}));
  // k = 1: the same three (the host's rule is "strictly below the k-th largest").
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, 1}, {0.1f, 0.4f, 0.9f}), (std::vector<int32_t>{1, 3, 4}));
  // k = 4 reaches the 2: it joins with its own (smaller) share, the 1 stays out.
  const std::vector<int32_t> four = draws(logits, Row{1, 1, 0, 0, 4}, {0.999f});
  EXPECT_EQ(four[0], 4);
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, 4}, {0.0f})[0], 1);
  // -0 ties with +0: k = 1 over {+0, -0, -1} keeps both zeros.
  EXPECT_EQ(draws({0.0f, -0.0f, -1.0f}, Row{1, 1, 0, 0, 1}, {0.25f, 0.75f}), (std::vector<int32_t>{0, 1}));
  // k that masks nothing: NaN, negative, 0, the vocabulary size and beyond; all draw the last id at u ~ 1.
  for (float k : {std::nanf(""), -3.0f, 0.0f, 5.0f, 1e9f})
    EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, k}, {0.99999f})[0], 4) << k;
  EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, 5}, {0.0f})[0], 0);
}

// The host order: top_k first, then top_p over the renormalised survivors. p = 0.4, 0.3, 0.2, 0.1 (ids 3, 1,
// 0, 2): k = 2 leaves 0.4 / 0.7 = 0.57 for id 3, already past top_p = 0.5, so only id 3 stays; top_p alone
// would keep ids 3 and 1.
TEST(SampleRows, TopKComesBeforeTopPAndMinP) {
  const std::vector<float> logits = {std::log(0.2f), std::log(0.3f), std::log(0.1f), std::log(0.4f)};
  const std::vector<float> u = {0.01f, 0.3f, 0.6f, 0.99f};
  for (int32_t id : draws(logits, Row{1, 0.5f, 0, 0, 2}, u))
    EXPECT_EQ(id, 3);
  EXPECT_EQ(draws(logits, Row{1, 0.5f, 0, 0, 0}, u), (std::vector<int32_t>{1, 1, 3, 3}));
  // min_p 0.7 of the top after k = 3: 0.3 / 0.4 = 0.75 stays, 0.2 / 0.4 goes.
  EXPECT_EQ(draws(logits, Row{1, 1, 0.7f, 0, 3}, u), (std::vector<int32_t>{1, 1, 3, 3}));
  // The host sampler agrees with the k = 2, top_p = 0.5 case.
  std::vector<float> host = logits;
  apply_top_k(host, 2);
  apply_top_p(host, 0.5f);
  for (float x : u)
    EXPECT_EQ(draw_from_logits(host, x), 3);
}

TEST(SampleRows, TopKWithInfiniteLogits) {
  // +inf tokens take all the mass whatever k; k = 1 keeps every +inf (they tie).
  const std::vector<float> logits = {1.0f, kInf, 3.0f, kInf, -kInf};
  for (float k : {1.0f, 2.0f, 3.0f})
    EXPECT_EQ(draws(logits, Row{1, 1, 0, 0, k}, {0.1f, 0.9f}), (std::vector<int32_t>{1, 3})) << k;
  // A -inf k-th largest masks nothing further: k = 3 of {3, 1, -inf, -inf, -inf} keeps 3 and 1.
  EXPECT_EQ(draws({3.0f, -kInf, 1.0f, -kInf, -kInf}, Row{1, 1, 0, 0, 3}, {0.0f, 0.9999f}),
            (std::vector<int32_t>{0, 2}));
}

TEST(SampleRows, RejectsBadShapes) {
  auto cpu = make_cpu();
  std::vector<float> x(8), params(10);
  std::vector<int32_t> out(2);
  EXPECT_FALSE(
      sample_rows(*cpu, {TensorView{x.data(), DType::kF32, Shape{2, 4}, Device{}},
                         TensorView{params.data(), DType::kF32, Shape{1, kSampleRowsParams}, Device{}},
                         TensorView{out.data(), DType::kI32, Shape{2}, Device{}}})
          .is_ok());
  // The old four-column rows are refused, not misread.
  EXPECT_FALSE(sample_rows(*cpu, {TensorView{x.data(), DType::kF32, Shape{2, 4}, Device{}},
                                  TensorView{params.data(), DType::kF32, Shape{2, 4}, Device{}},
                                  TensorView{out.data(), DType::kI32, Shape{2}, Device{}}})
                   .is_ok());
}

}  // namespace
}  // namespace autoglm

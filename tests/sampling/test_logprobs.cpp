#include "sampling/logprobs.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace autoglm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Logprobs, MatchesLogSoftmaxInDouble) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> logits(1000);
  for (float& x : logits)
    x = dist(rng) + 80.0f;  // large logits: a naive exp would overflow float
  double z = 0;
  for (float x : logits)
    z += std::exp(static_cast<double>(x) - 80.0);
  const TokenLogprobs lp = token_logprobs(logits, 17, 5);
  EXPECT_NEAR(lp.chosen.logprob, logits[17] - 80.0 - std::log(z), 1e-5);
  EXPECT_EQ(lp.chosen.token, 17);
  ASSERT_EQ(lp.top.size(), 5u);
  double prob_sum = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    prob_sum += std::exp(static_cast<double>(logits[i]) - 80.0 - std::log(z));
  EXPECT_NEAR(prob_sum, 1.0, 1e-9);
  for (size_t i = 1; i < lp.top.size(); ++i)
    EXPECT_GE(lp.top[i - 1].logprob, lp.top[i].logprob);
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(logits.size()); ++i)
    if (logits[static_cast<size_t>(i)] > logits[static_cast<size_t>(best)]) best = i;
  EXPECT_EQ(lp.top[0].token, best);
}

TEST(Logprobs, TiesGoToTheLowerIdAndNanIsImpossible) {
  const std::vector<float> logits = {1.0f, 3.0f, std::nanf(""), 3.0f, -kInf};
  const TokenLogprobs lp = token_logprobs(logits, 2, 10);
  EXPECT_EQ(lp.chosen.logprob, -kInf);
  ASSERT_EQ(lp.top.size(), 5u);  // clamped to the vocabulary
  EXPECT_EQ(lp.top[0].token, 1);
  EXPECT_EQ(lp.top[1].token, 3);
  EXPECT_EQ(lp.top[2].token, 0);
  EXPECT_NEAR(lp.top[0].logprob, std::log(std::exp(3.0) / (2 * std::exp(3.0) + std::exp(1.0))), 1e-6);
  EXPECT_EQ(lp.top[3].logprob, -kInf);
  EXPECT_EQ(lp.top[4].logprob, -kInf);
}

TEST(Logprobs, InfiniteRows) {
  const TokenLogprobs all_masked = token_logprobs(std::vector<float>{-kInf, -kInf}, 0, 0);
  EXPECT_EQ(all_masked.chosen.logprob, -kInf);
  EXPECT_TRUE(all_masked.top.empty());
  const TokenLogprobs certain = token_logprobs(std::vector<float>{kInf, 2.0f, kInf}, 2, 1);
  EXPECT_NEAR(certain.chosen.logprob, -std::log(2.0), 1e-6);
  ASSERT_EQ(certain.top.size(), 1u);
  EXPECT_EQ(certain.top[0].token, 0);
}

}  // namespace
}  // namespace autoglm

// Exact tests of each logits processor on hand-computed small vocabularies, plus randomised checks of the
// fast top-k / top-p paths against a brute-force full sort.
#include "sampling/logits_processors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace autoglm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Ids whose logit survived the masks (is above -inf), ascending.
std::vector<int32_t> kept_ids(const std::vector<float>& logits) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > -kInf) {
      ids.push_back(static_cast<int32_t>(i));
    }
  }
  return ids;
}

// Logits whose softmax is exactly the given probabilities (up to float rounding of the log).
std::vector<float> logits_from_probabilities(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) {
    logits.push_back(static_cast<float>(std::log(p)));
  }
  return logits;
}

// The 16-token distribution shared with test_sampler.cpp, shuffled over ids so sorting is exercised.
// Sorted: .20(2) .15(10) .12(6) .10(4) .08(13) .07(0) .06(8) .05(14) .04(3) .035(7) .03(15) .025(11)
//         .015(1) .01(9) .008(5) .007(12).
const std::vector<double> kSixteen = {0.07, 0.015, 0.20, 0.04,  0.10,  0.008, 0.12, 0.035,
                                      0.06, 0.01,  0.15, 0.025, 0.007, 0.08,  0.05, 0.03};

using Ids = std::vector<int32_t>;

TEST(TopK, KeepsTheSingleLargestForK1) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f};
  apply_top_k(logits, 1);
  EXPECT_EQ(kept_ids(logits), (Ids{1}));
  EXPECT_EQ(logits[1], 3.0f);  // survivors keep their value
}

TEST(TopK, KeepsTheThreeLargest) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 3.0f, 1.5f, 0.0f};
  apply_top_k(logits, 3);
  EXPECT_EQ(kept_ids(logits), (Ids{1, 3, 4}));
}

TEST(TopK, KeepsEveryTieAtTheBoundaryLikeHf) {
  // HF masks scores < topk(scores, k).values[-1]: tokens equal to the k-th value all survive.
  std::vector<float> logits = {5.0f, 4.0f, 3.0f, 3.0f, 1.0f};
  apply_top_k(logits, 3);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 1, 2, 3}));
  std::vector<float> tied_max = {3.0f, 1.0f, 3.0f};
  apply_top_k(tied_max, 1);
  EXPECT_EQ(kept_ids(tied_max), (Ids{0, 2}));
}

TEST(TopK, DisabledForZeroNegativeOrAtLeastTheVocabulary) {
  const std::vector<float> original = {0.5f, -2.0f, 1.0f};
  for (int32_t k : {0, -1, 3, 4, 1000}) {
    std::vector<float> logits = original;
    apply_top_k(logits, k);
    EXPECT_EQ(logits, original) << "k=" << k;
  }
}

// Both selection paths (heap for small k, nth_element for large k) against a full sort, with ties.
TEST(TopK, MatchesFullSortOnRandomRows) {
  std::mt19937_64 engine(7);
  for (size_t n : {16u, 1000u, 4097u}) {
    for (int32_t k : {1, 2, 5, 100, static_cast<int32_t>(n / 2), static_cast<int32_t>(n - 1)}) {
      if (static_cast<size_t>(k) >= n) {
        continue;
      }
      std::vector<float> logits(n);
      for (float& logit : logits) {
        logit = static_cast<float>(engine() % 64) * 0.25f;  // few distinct values: many ties
      }
      std::vector<float> sorted = logits;
      std::sort(sorted.begin(), sorted.end(), std::greater<float>());
      const float kth = sorted[k - 1];
      std::vector<float> masked = logits;
      apply_top_k(masked, k);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(masked[i] > -kInf, logits[i] >= kth) << "n=" << n << " k=" << k << " i=" << i;
      }
    }
  }
}

TEST(TopP, ExactCumulativeBoundaryKeepsTheSmallestPrefix) {
  // Eight equal logits: each probability is exactly 1/8, so p = 2/8 is reached exactly after two tokens.
  // Equal probabilities are ordered by lower id.
  for (auto [p, expected] : {std::pair{0.25f, Ids{0, 1}}, std::pair{0.375f, Ids{0, 1, 2}},
                             std::pair{0.26f, Ids{0, 1, 2}}, std::pair{0.125f, Ids{0}}}) {
    std::vector<float> logits(8, 0.0f);
    apply_top_p(logits, p);
    EXPECT_EQ(kept_ids(logits), expected) << "p=" << p;
  }
}

TEST(TopP, AlreadyMaskedTokensDoNotCount) {
  // Four finite tokens of probability exactly 1/4 each.
  std::vector<float> logits = {0.0f, -kInf, 0.0f, 0.0f, -kInf, 0.0f};
  apply_top_p(logits, 0.5f);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 2}));
}

TEST(TopP, KeepsTheMostLikelyUntilTheMassIsReached) {
  // Sorted probabilities: .5 (id 1), .25 (id 3), .15 (id 2), .1 (id 0).
  const std::vector<float> original = logits_from_probabilities({0.1, 0.5, 0.15, 0.25});
  for (auto [p, expected] : {std::pair{0.4f, Ids{1}}, std::pair{0.7f, Ids{1, 3}},
                             std::pair{0.76f, Ids{1, 2, 3}}, std::pair{0.95f, Ids{0, 1, 2, 3}}}) {
    std::vector<float> logits = original;
    apply_top_p(logits, p);
    EXPECT_EQ(kept_ids(logits), expected) << "p=" << p;
  }
}

TEST(TopP, OneDisablesAndTinyOrZeroKeepsOnlyTheArgmax) {
  const std::vector<float> original = logits_from_probabilities({0.1, 0.5, 0.15, 0.25});
  std::vector<float> logits = original;
  apply_top_p(logits, 1.0f);
  EXPECT_EQ(logits, original);
  for (float p : {1e-6f, 0.0f}) {
    logits = original;
    apply_top_p(logits, p);
    EXPECT_EQ(kept_ids(logits), (Ids{1})) << "p=" << p;
  }
}

// Wide rows exercise the selection on mass: a flat one (scale 1e-3) puts the cut thousands of tokens deep,
// a peaked one (scale 2e-2, logits spread over 20 nats) within the first probe of 256 tokens.
TEST(TopP, MatchesFullSortOnWideRows) {
  std::mt19937_64 engine(11);
  for (auto [p, scale] : {std::pair{0.1f, 1e-3f}, std::pair{0.5f, 1e-3f}, std::pair{0.9f, 1e-3f},
                          std::pair{0.99f, 1e-3f}, std::pair{0.5f, 2e-2f}, std::pair{0.95f, 2e-2f}}) {
    std::vector<float> logits(5000);
    for (float& logit : logits) {
      logit = static_cast<float>(engine() % 1000) * scale;
    }
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    double total = 0.0;
    for (float logit : logits) {
      total += std::exp(static_cast<double>(logit));
    }
    std::vector<bool> expected(logits.size(), false);
    double before = 0.0;  // the mass of the tokens ordered before this one
    for (int32_t id : order) {
      if (before >= p * total) {
        break;
      }
      expected[id] = true;
      before += std::exp(static_cast<double>(logits[id]));
    }
    std::vector<float> masked = logits;
    apply_top_p(masked, p);
    for (size_t i = 0; i < logits.size(); ++i) {
      ASSERT_EQ(masked[i] > -kInf, expected[i]) << "p=" << p << " scale=" << scale << " i=" << i;
    }
  }
}

TEST(MinP, KeepsTokensAtLeastMinPTimesTheTop) {
  // p = .5 .25 .15 .1; min_p .25 -> threshold .125.
  std::vector<float> logits = logits_from_probabilities({0.5, 0.25, 0.15, 0.1});
  apply_min_p(logits, 0.25f);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 1, 2}));
  logits = logits_from_probabilities({0.5, 0.25, 0.15, 0.1});
  apply_min_p(logits, 0.6f);
  EXPECT_EQ(kept_ids(logits), (Ids{0}));
}

TEST(MinP, ZeroDisablesAndOneKeepsTiesOfTheMaximum) {
  const std::vector<float> original = {2.0f, 1.0f, 2.0f, -3.0f};
  std::vector<float> logits = original;
  apply_min_p(logits, 0.0f);
  EXPECT_EQ(logits, original);
  apply_min_p(logits, 1.0f);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 2}));
}

TEST(Masks, CombineInTheDocumentedOrderOnRenormalisedProbabilities) {
  std::vector<float> logits = logits_from_probabilities(kSixteen);
  // top-k 10 keeps probabilities down to .035 (mass .905).
  apply_top_k(logits, 10);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 2, 3, 4, 6, 7, 8, 10, 13, 14}));
  // top-p .8 on the renormalised ten: cumulative .78 / .905 = .862 >= .8 after seven tokens. On the
  // original distribution it would need eight (.78 < .8), so this checks the masks see renormalised mass.
  apply_top_p(logits, 0.8f);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 2, 4, 6, 8, 10, 13}));
  std::vector<float> unmasked = logits_from_probabilities(kSixteen);
  apply_top_p(unmasked, 0.8f);
  EXPECT_EQ(kept_ids(unmasked).size(), 8u);
  // min-p .32: threshold .064 of the original scale drops .06 (id 8).
  apply_min_p(logits, 0.32f);
  EXPECT_EQ(kept_ids(logits), (Ids{0, 2, 4, 6, 10, 13}));
}

TEST(Temperature, DividesEveryLogit) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, -kInf};
  apply_temperature(logits, 0.5f);
  EXPECT_EQ(logits, (std::vector<float>{4.0f, -2.0f, 1.0f, -kInf}));
  apply_temperature(logits, 1.0f);
  EXPECT_EQ(logits, (std::vector<float>{4.0f, -2.0f, 1.0f, -kInf}));
  apply_temperature(logits, 4.0f);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -0.5f, 0.25f, -kInf}));
}

TEST(RepetitionPenalty, DividesPositiveMultipliesNegativeOncePerId) {
  std::vector<float> logits = {2.0f, -2.0f, 0.0f, 1.0f};
  const std::vector<int32_t> ids = {0, 1, 1, 0, 2, 0};
  apply_repetition_penalty(logits, ids, 2.0f);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 0.0f, 1.0f}));
}

TEST(RepetitionPenalty, IdInPromptAndGeneratedCountsOnce) {
  std::vector<float> logits = {3.0f, -1.0f, 1.0f};
  const std::vector<int32_t> prompt = {0, 1};
  const std::vector<int32_t> generated = {1, 0, 0};
  apply_repetition_penalty(logits, prompt, generated, 1.5f);
  EXPECT_EQ(logits, (std::vector<float>{2.0f, -1.5f, 1.0f}));
}

TEST(RepetitionPenalty, OneDisablesAndOutOfRangeIdsAreIgnored) {
  std::vector<float> logits = {3.0f, -1.0f};
  const std::vector<int32_t> ids = {0, 1};
  apply_repetition_penalty(logits, ids, 1.0f);
  EXPECT_EQ(logits, (std::vector<float>{3.0f, -1.0f}));
  const std::vector<int32_t> bad = {-1, 2, 1000};
  apply_repetition_penalty(logits, bad, 2.0f);
  EXPECT_EQ(logits, (std::vector<float>{3.0f, -1.0f}));
}

TEST(RepetitionPenalty, EachCallStartsFresh) {
  // The per-thread "seen" scratch must be cleared between calls: a second call penalises again.
  std::vector<float> logits = {2.0f, 4.0f};
  const std::vector<int32_t> ids = {0};
  apply_repetition_penalty(logits, ids, 2.0f);
  apply_repetition_penalty(logits, ids, 2.0f);
  EXPECT_EQ(logits, (std::vector<float>{0.5f, 4.0f}));
}

TEST(PresenceFrequency, SubtractsPresenceOnceAndFrequencyPerCount) {
  std::vector<float> logits(5, 0.0f);
  const std::vector<int32_t> generated = {1, 3, 1, 1, 4};
  apply_presence_frequency_penalties(logits, generated, 0.5f, 0.25f);
  // id 1: 3 times -> -.75 - .5; ids 3 and 4: once -> -.25 - .5; ids 0 and 2 unseen.
  EXPECT_EQ(logits, (std::vector<float>{0.0f, -1.25f, 0.0f, -0.75f, -0.75f}));
  // Counts are cleared between calls: the same history again subtracts the same amounts.
  apply_presence_frequency_penalties(logits, generated, 0.5f, 0.25f);
  EXPECT_EQ(logits, (std::vector<float>{0.0f, -2.5f, 0.0f, -1.5f, -1.5f}));
}

TEST(PresenceFrequency, NegativePenaltiesEncourageAndZeroDisables) {
  std::vector<float> logits = {1.0f, 1.0f};
  const std::vector<int32_t> generated = {0, 0};
  apply_presence_frequency_penalties(logits, generated, 0.0f, 0.0f);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 1.0f}));
  apply_presence_frequency_penalties(logits, generated, -1.0f, 0.0f);
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 1.0f}));
  apply_presence_frequency_penalties(logits, {}, 5.0f, 5.0f);  // empty history
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 1.0f}));
}

TEST(Nan, BecomesNegativeInfinity) {
  std::vector<float> logits = {std::nanf(""), 1.0f, -kInf, kInf};
  replace_nan_with_neg_inf(logits);
  EXPECT_EQ(logits, (std::vector<float>{-kInf, 1.0f, -kInf, kInf}));
}

TEST(Argmax, LowestIdWinsTies) {
  EXPECT_EQ(argmax(std::vector<float>{1.0f, 3.0f, 2.0f, 3.0f}), 1);
  EXPECT_EQ(argmax(std::vector<float>{-kInf, -kInf}), 0);
  EXPECT_EQ(argmax(std::vector<float>{7.0f}), 0);
}

TEST(Draw, InverseCdfOverIdsInOrder) {
  const std::vector<float> uniform4(4, 0.0f);  // probabilities exactly .25 each
  EXPECT_EQ(draw_from_logits(uniform4, 0.0), 0);
  EXPECT_EQ(draw_from_logits(uniform4, 0.24), 0);
  EXPECT_EQ(draw_from_logits(uniform4, 0.25), 1);
  EXPECT_EQ(draw_from_logits(uniform4, 0.74), 2);
  EXPECT_EQ(draw_from_logits(uniform4, 1.0 - 0x1p-53), 3);
}

TEST(Draw, NeverReturnsAMaskedToken) {
  const std::vector<float> middle_masked = {0.0f, -kInf, 0.0f};
  EXPECT_EQ(draw_from_logits(middle_masked, 0.5), 2);
  const std::vector<float> tail_masked = {0.0f, 0.0f, -kInf, -kInf};
  EXPECT_EQ(draw_from_logits(tail_masked, 1.0 - 0x1p-53), 1);
  const std::vector<float> all_masked = {-kInf, -kInf};
  EXPECT_EQ(draw_from_logits(all_masked, 0.9), 0);
}

TEST(Draw, PositiveInfinityTokensShareAllTheMass) {
  const std::vector<float> logits = {1.0f, kInf, 3.0f, kInf};
  EXPECT_EQ(draw_from_logits(logits, 0.2), 1);
  EXPECT_EQ(draw_from_logits(logits, 0.7), 3);
  std::vector<float> masked = logits;
  apply_top_p(masked, 0.4f);
  EXPECT_EQ(kept_ids(masked), (Ids{1}));
  masked = logits;
  apply_min_p(masked, 0.1f);
  EXPECT_EQ(kept_ids(masked), (Ids{1, 3}));
}

}  // namespace
}  // namespace autoglm

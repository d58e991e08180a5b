// Sampler end to end: greedy decoding, the distribution of draws (chi-square goodness of fit against an
// independent double-precision softmax), seeding and reproducibility of the generator, degenerate rows.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "sampling/rng.h"

namespace autoglm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kDraws = 200000;

// The 16-token distribution of test_logits_processors.cpp, shuffled over ids.
// Sorted: .20(2) .15(10) .12(6) .10(4) .08(13) .07(0) .06(8) .05(14) .04(3) .035(7) .03(15) .025(11)
//         .015(1) .01(9) .008(5) .007(12).
const std::vector<double> kSixteen = {0.07, 0.015, 0.20, 0.04,  0.10,  0.008, 0.12, 0.035,
                                      0.06, 0.01,  0.15, 0.025, 0.007, 0.08,  0.05, 0.03};

// 0.999 quantiles of the chi-square distribution by degrees of freedom (standard tables, e.g. NIST/SEMATECH
// e-Handbook 1.3.6.7.4; re-derived from the regularised incomplete gamma function). A correct sampler
// exceeds them with probability 0.001; with a fixed seed the outcome is deterministic.
const std::map<int, double> kChiSquare999 = {
    {3, 16.266}, {5, 20.515}, {7, 24.322}, {11, 31.264}, {15, 37.697}};

std::vector<float> sixteen_logits() {
  std::vector<float> logits;
  for (double p : kSixteen) {
    logits.push_back(static_cast<float>(std::log(p)) + 3.0f);  // the shift must not matter
  }
  return logits;
}

// softmax(logits / temperature) over the kept ids in double, 0 elsewhere: computed here without any code
// of the sampler.
std::vector<double> expected_probabilities(const std::vector<float>& logits, double temperature,
                                           const std::vector<int32_t>& kept) {
  std::vector<double> probabilities(logits.size(), 0.0);
  double total = 0.0;
  for (int32_t id : kept) {
    probabilities[id] = std::exp(static_cast<double>(logits[id]) / temperature);
    total += probabilities[id];
  }
  for (double& p : probabilities) {
    p /= total;
  }
  return probabilities;
}

std::vector<int32_t> all_ids(size_t n) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) {
    ids.push_back(static_cast<int32_t>(i));
  }
  return ids;
}

// Draws kDraws tokens with params, asserts masked tokens never appear and returns the chi-square
// statistic of the counts against expected (only over tokens with nonzero expectation).
double chi_square_of_draws(SamplingParams params, const std::vector<double>& expected) {
  Sampler sampler(params);
  const std::vector<float> logits = sixteen_logits();
  std::vector<int64_t> counts(logits.size(), 0);
  std::vector<float> row;
  for (int i = 0; i < kDraws; ++i) {
    row = logits;
    ++counts.at(sampler.sample(row, {}, {}));
  }
  double statistic = 0.0;
  for (size_t id = 0; id < expected.size(); ++id) {
    if (expected[id] == 0.0) {
      EXPECT_EQ(counts[id], 0) << "masked token " << id << " was drawn";
      continue;
    }
    const double expected_count = expected[id] * kDraws;
    const double diff = static_cast<double>(counts[id]) - expected_count;
    statistic += diff * diff / expected_count;
  }
  return statistic;
}

struct FitCase {
  const char* name;
  SamplingParams params;
  std::vector<int32_t> kept;  // worked out by hand from the sorted list above
};

SamplingParams make_params(float temperature, int32_t top_k, float top_p, float min_p, uint64_t seed) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.min_p = min_p;
  params.seed = seed;
  return params;
}

TEST(SamplerDistribution, ChiSquareGoodnessOfFit) {
  const std::vector<FitCase> cases = {
      {"temperature 1", make_params(1.0f, 0, 1.0f, 0.0f, 1001), all_ids(16)},
      {"temperature 0.7", make_params(0.7f, 0, 1.0f, 0.0f, 1002), all_ids(16)},
      {"top-k 4", make_params(1.0f, 4, 1.0f, 0.0f, 1003), {2, 4, 6, 10}},
      // Cumulative .78 after seven tokens, .83 >= .8 after eight.
      {"top-p 0.8", make_params(1.0f, 0, 0.8f, 0.0f, 1004), {0, 2, 4, 6, 8, 10, 13, 14}},
      // Threshold .1 * .2 = .02 drops .015, .01, .008 and .007.
      {"min-p 0.1", make_params(1.0f, 0, 1.0f, 0.1f, 1005), {0, 2, 3, 4, 6, 7, 8, 10, 11, 13, 14, 15}},
      // top-k 10, then top-p .8 on the renormalised ten (seven tokens), then min-p .32 (drops .06).
      {"top-k 10 + top-p 0.8 + min-p 0.32", make_params(1.0f, 10, 0.8f, 0.32f, 1006), {0, 2, 4, 6, 10, 13}},
  };
  for (const FitCase& c : cases) {
    const std::vector<double> expected =
        expected_probabilities(sixteen_logits(), static_cast<double>(c.params.temperature), c.kept);
    const int degrees_of_freedom = static_cast<int>(c.kept.size()) - 1;
    const double statistic = chi_square_of_draws(c.params, expected);
    EXPECT_LT(statistic, kChiSquare999.at(degrees_of_freedom)) << c.name << ", df " << degrees_of_freedom;
  }
}

TEST(SamplerGreedy, TakesTheArgmaxWithTiesToTheLowestId) {
  SamplingParams params;
  params.temperature = 0.0f;
  Sampler sampler(params);
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(sampler.sample(logits, {}, {}), 1);
  std::vector<float> all_equal(5, 0.25f);
  EXPECT_EQ(sampler.sample(all_equal, {}, {}), 0);
}

TEST(SamplerGreedy, PenaltiesStillApply) {
  const std::vector<float> original = {3.0f, 2.9f, 1.0f};
  const std::vector<int32_t> once = {0};
  const std::vector<int32_t> twice = {0, 0};
  SamplingParams params;
  params.temperature = 0.0f;
  std::vector<float> logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, once, once), 0);  // no penalty: plain argmax

  params.repetition_penalty = 1.5f;  // 3 / 1.5 = 2 < 2.9, from the prompt alone
  logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, once, {}), 1);

  params.repetition_penalty = 1.0f;
  params.presence_penalty = 0.5f;  // 3 - .5 = 2.5 < 2.9
  logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, {}, once), 1);
  logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, once, {}), 0);  // presence looks at generated ids only

  params.presence_penalty = 0.0f;
  params.frequency_penalty = 0.06f;  // 3 - 2 * .06 = 2.88 < 2.9, but 3 - .06 > 2.9
  logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, {}, twice), 1);
  logits = original;
  EXPECT_EQ(Sampler(params).sample(logits, {}, once), 0);
}

std::vector<int32_t> draw_sequence(uint64_t seed, int n) {
  SamplingParams params;
  params.seed = seed;
  Sampler sampler(params);
  std::vector<int32_t> tokens;
  std::vector<float> row;
  for (int i = 0; i < n; ++i) {
    row = sixteen_logits();
    tokens.push_back(sampler.sample(row, {}, {}));
  }
  return tokens;
}

TEST(SamplerSeed, SameSeedSameSequenceDifferentSeedsDiffer) {
  const std::vector<int32_t> first = draw_sequence(42, 1000);
  EXPECT_EQ(first, draw_sequence(42, 1000));
  EXPECT_NE(first, draw_sequence(43, 1000));
  EXPECT_NE(first, draw_sequence(0, 1000));
}

TEST(SamplerSeed, UnseededSamplersDrawFromEntropy) {
  // Two unseeded samplers agreeing on 1,000 draws from 16 tokens would mean they share a seed.
  SamplingParams params;
  Sampler a(params);
  Sampler b(params);
  std::vector<int32_t> tokens_a;
  std::vector<int32_t> tokens_b;
  std::vector<float> row;
  for (int i = 0; i < 1000; ++i) {
    row = sixteen_logits();
    tokens_a.push_back(a.sample(row, {}, {}));
    row = sixteen_logits();
    tokens_b.push_back(b.sample(row, {}, {}));
  }
  EXPECT_NE(tokens_a, tokens_b);
}

TEST(Rng, MatchesTheStandardMt19937_64) {
  // The standard ([rand.predef]) requires the 10000th output of a default-constructed mt19937_64
  // (seed 5489) to be 9981545732273789042.
  Rng rng(5489);
  uint64_t value = 0;
  for (int i = 0; i < 10000; ++i) {
    value = rng.next_u64();
  }
  EXPECT_EQ(value, 9981545732273789042ull);
}

TEST(Rng, PinnedOutputsForSeed42) {
  // Computed independently with a Python transcription of the MT19937-64 reference code
  // (Matsumoto & Nishimura, init_genrand64(42)); the doubles are (output >> 11) * 2^-53 exactly.
  const uint64_t outputs[] = {13930160852258120406ull, 11788048577503494824ull, 13874630024467741450ull,
                              2513787319205155662ull, 16662371453428439381ull};
  const uint64_t top53[] = {6801836353641660ull, 5755883094484128ull, 6774721691634639ull,
                            1227435214455642ull, 8135923561244355ull};
  const double approx[] = {0.755155532954539, 0.6390313938546974, 0.7521452007480266, 0.13627268363243705,
                           0.9032689664283783};
  Rng raw(42);
  Rng uniform(42);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(raw.next_u64(), outputs[i]) << i;
    const double u = uniform.next_double();
    EXPECT_EQ(u, static_cast<double>(top53[i]) * 0x1p-53) << i;
    EXPECT_EQ(u, approx[i]) << i;  // the shortest decimal that round-trips to the same double
  }
  EXPECT_EQ(raw.seed(), 42u);
}

TEST(Rng, DoublesStayInTheUnitInterval) {
  Rng rng(Rng::entropy_seed());
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.next_double();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(SamplerRobustness, OnlyOneFiniteLogit) {
  for (float temperature : {0.0f, 1.0f, 1.7f}) {
    SamplingParams params = make_params(temperature, 3, 0.9f, 0.05f, 7);
    params.repetition_penalty = 1.3f;
    Sampler sampler(params);
    const std::vector<int32_t> history = {0, 2, 2};
    for (int i = 0; i < 100; ++i) {
      std::vector<float> logits = {-kInf, -kInf, -5.0f, -kInf};
      ASSERT_EQ(sampler.sample(logits, history, history), 2) << "temperature " << temperature;
    }
  }
}

TEST(SamplerRobustness, NanIsTreatedAsNegativeInfinity) {
  const float nan = std::nanf("");
  for (float temperature : {0.0f, 1.0f}) {
    Sampler sampler(make_params(temperature, 0, 0.95f, 0.0f, 9));
    for (int i = 0; i < 200; ++i) {
      std::vector<float> logits = {nan, 0.0f, nan, 0.1f, nan};
      const int32_t token = sampler.sample(logits, {}, {});
      ASSERT_TRUE(token == 1 || token == 3) << token;
    }
    std::vector<float> greedy_row = {nan, 1.0f, 2.0f, nan};
    if (temperature == 0.0f) {
      EXPECT_EQ(sampler.sample(greedy_row, {}, {}), 2);
    }
    // Nothing drawable: the argmax rule on an all-tied row gives id 0.
    std::vector<float> all_nan = {nan, nan, nan};
    EXPECT_EQ(sampler.sample(all_nan, {}, {}), 0);
    std::vector<float> all_masked = {-kInf, -kInf};
    EXPECT_EQ(sampler.sample(all_masked, {}, {}), 0);
  }
}

TEST(SamplerRobustness, VocabularyOfOne) {
  SamplingParams params = make_params(0.8f, 5, 0.5f, 0.5f, 3);
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 1.0f;
  params.frequency_penalty = 1.0f;
  Sampler sampler(params);
  const std::vector<int32_t> history = {0, 0};
  for (int i = 0; i < 10; ++i) {
    std::vector<float> logits = {1.5f};
    ASSERT_EQ(sampler.sample(logits, history, history), 0);
  }
}

TEST(SamplerRobustness, EmptyHistoryWithPenaltiesIsFine) {
  SamplingParams params = make_params(1.0f, 0, 1.0f, 0.0f, 5);
  params.repetition_penalty = 1.2f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.5f;
  Sampler sampler(params);
  std::vector<float> logits = {0.0f, 1.0f};
  const int32_t token = sampler.sample(logits, {}, {});
  EXPECT_TRUE(token == 0 || token == 1);
  EXPECT_EQ(logits, (std::vector<float>{0.0f, 1.0f}));  // nothing to penalise, temperature 1
}

TEST(SamplerRobustness, TopKOneIsDeterministicUnderSampling) {
  Sampler sampler(make_params(1.0f, 1, 1.0f, 0.0f, 11));
  for (int i = 0; i < 100; ++i) {
    std::vector<float> row = sixteen_logits();
    ASSERT_EQ(sampler.sample(row, {}, {}), 2);
  }
}

}  // namespace
}  // namespace autoglm

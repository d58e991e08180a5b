// What the engine needs from a request's sampler to decide on the device: whether penalties apply, the sparse
// entries ops/apply_penalties.h takes (kept up to date incrementally, equal to a recount of the histories at
// every step), and the uniforms of device draws, which are the request's own seeded sequence, the one a host
// draw would have used.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "sampling/rng.h"
#include "sampling/sampler.h"

namespace autoglm {
namespace {

TEST(SamplerPlacement, PenaltiesAreTheRepetitionPresenceAndFrequencyOnes) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.top_k = 40;  // a mask of the draw, not a penalty
  EXPECT_FALSE(Sampler(p).has_penalties());
  for (auto mutate : {+[](SamplingParams& q) { q.repetition_penalty = 1.1f; },
                      +[](SamplingParams& q) { q.presence_penalty = 0.5f; },
                      +[](SamplingParams& q) { q.frequency_penalty = -0.5f; }}) {
    SamplingParams q = p;
    mutate(q);
    EXPECT_TRUE(Sampler(q).has_penalties());
    q.temperature = 0.0f;  // greedy choices are penalised too
    EXPECT_TRUE(Sampler(q).has_penalties());
  }
  const std::vector<int32_t> prompt = {1, 2, 3}, generated = {4, 4};
  EXPECT_TRUE(Sampler(p).penalty_entries(prompt, generated).empty());
}

using Triples = std::map<int32_t, std::tuple<int32_t, int32_t>>;  // id -> (count, in_prompt)

Triples as_map(std::span<const int32_t> entries) {
  Triples m;
  EXPECT_EQ(entries.size() % 3, 0u);
  for (size_t i = 0; i + 2 < entries.size(); i += 3) {
    EXPECT_EQ(m.count(entries[i]), 0u) << "id " << entries[i] << " listed twice";
    m[entries[i]] = {entries[i + 1], entries[i + 2]};
  }
  return m;
}

// Straight from the definition: every distinct generated id with its count, and with a repetition penalty
// every distinct prompt id flagged.
Triples recount(const std::vector<int32_t>& prompt, const std::vector<int32_t>& generated, bool with_prompt) {
  Triples m;
  if (with_prompt) {
    for (int32_t id : prompt)
      m[id] = {0, 1};
  }
  for (int32_t id : generated) {
    auto& [count, in_prompt] = m[id];
    ++count;
  }
  return m;
}

TEST(SamplerPlacement, PenaltyEntriesFollowTheHistoryStepByStep) {
  std::mt19937 rng(4);
  for (int variant = 0; variant < 3; ++variant) {
    SamplingParams p;
    p.repetition_penalty = variant == 1 ? 1.0f : 1.2f;
    p.frequency_penalty = variant == 2 ? 0.0f : 0.3f;
    p.seed = 3;
    Sampler sampler(p);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 50; ++i)
      prompt.push_back(static_cast<int32_t>(rng() % 30));
    std::vector<int32_t> generated;
    for (int step = 0; step < 80; ++step) {
      EXPECT_EQ(as_map(sampler.penalty_entries(prompt, generated)),
                recount(prompt, generated, p.repetition_penalty != 1.0f))
          << "variant " << variant << " step " << step;
      // One token a step, now and then several (a step that was not sampled).
      const int n = step % 7 == 3 ? 3 : 1;
      for (int j = 0; j < n; ++j)
        generated.push_back(static_cast<int32_t>(rng() % 45));
    }
    // A history that does not extend the counted one is recounted.
    generated.resize(10);
    EXPECT_EQ(as_map(sampler.penalty_entries(prompt, generated)),
              recount(prompt, generated, p.repetition_penalty != 1.0f));
  }
}

TEST(SamplerPlacement, DeviceDrawsUseTheSeededSequence) {
  SamplingParams p;
  p.seed = 77;
  Sampler sampler(p);
  Rng rng(77);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(sampler.next_uniform(), rng.next_double());
}

}  // namespace
}  // namespace autoglm

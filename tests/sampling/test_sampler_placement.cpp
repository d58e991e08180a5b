// Which requests the engine may sample on the device (ops/sample_rows.h takes temperature, top_p, min_p and
// one uniform) and which need the host sampler's history and top-k; and the uniforms the device draws use are
// the request's own seeded sequence, the one a host draw would have used.
#include <gtest/gtest.h>

#include "sampling/rng.h"
#include "sampling/sampler.h"

namespace autoglm {
namespace {

TEST(SamplerPlacement, PenaltiesAndTopKStayOnTheHost) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  EXPECT_FALSE(Sampler(p).needs_host());
  SamplingParams greedy_top_k = p;
  greedy_top_k.temperature = 0.0f;
  greedy_top_k.top_k = 5;  // greedy ignores the masks
  EXPECT_FALSE(Sampler(greedy_top_k).needs_host());
  for (auto mutate :
       {+[](SamplingParams& q) { q.repetition_penalty = 1.1f; },
        +[](SamplingParams& q) { q.presence_penalty = 0.5f; },
        +[](SamplingParams& q) { q.frequency_penalty = -0.5f; }, +[](SamplingParams& q) { q.top_k = 40; }}) {
    SamplingParams q = p;
    mutate(q);
    EXPECT_TRUE(Sampler(q).needs_host());
  }
  SamplingParams greedy_penalty;
  greedy_penalty.temperature = 0.0f;
  greedy_penalty.repetition_penalty = 1.3f;  // changes the argmax: the host applies it
  EXPECT_TRUE(Sampler(greedy_penalty).needs_host());
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

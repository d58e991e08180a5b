// Penalised greedy requests in the serving engine: their choices are made where the logits are
// (apply_penalties from each sampler's incrementally kept entries, then argmax), and each request's tokens
// equal those of the host sampler over the same request alone (Engine::generate), run among others with
// different penalties and none, with preemption; and the penalties do change the tokens.
#include <gtest/gtest.h>

#include <random>

#include "autoglm/async_engine.h"
#include "autoglm/engine.h"
#include "support/engine_runs.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

EngineOptions engine_options() {
  EngineOptions o;
  o.model_path = test::fixture_dir("llama");
  o.n_threads = 2;
  o.max_context = 256;
  return o;
}

// The host sampler's tokens: the single-sequence path, which copies every row to Sampler::sample.
std::vector<int32_t> host_sampled(Engine& engine, const Request& r) {
  GenerateRequest g;
  g.prompt = r.prompt;
  g.max_tokens = r.max_tokens;
  g.sampling = r.sampling;
  g.ignore_eos = r.ignore_eos;
  GenerateResult result;
  EXPECT_TRUE(engine.generate(g, &result).is_ok());
  return result.tokens;
}

using test::run_all;

TEST(AsyncEnginePenalties, GreedyWithPenaltiesEqualsTheHostSampler) {
  std::mt19937 rng(41);
  std::vector<Request> requests;
  for (int i = 0; i < 24; ++i) {
    Request r;
    // Short prompts over a narrow range of ids, so prompt and output share ids.
    const int n = 2 + static_cast<int>(rng() % 30);
    for (int j = 0; j < n; ++j)
      r.prompt.push_back(static_cast<int32_t>(rng() % 64));
    r.max_tokens = 12 + static_cast<int32_t>(rng() % 30);
    r.sampling.temperature = 0;
    r.ignore_eos = true;
    // Some requests unpenalised, the others repetition with frequency, presence alone, or all three (with a
    // negative presence).
    const float repetitions[] = {1.0f, 1.5f, 1.0f, 1.3f};
    const float presences[] = {0.0f, 0.0f, 0.8f, -0.3f};
    const float frequencies[] = {0.0f, 0.0f, 0.0f, 0.6f};
    r.sampling.repetition_penalty = repetitions[(i / 4) % 4 == 0 ? 0 : i % 4];
    r.sampling.presence_penalty = presences[(i / 4) % 4 == 0 ? 0 : i % 4];
    r.sampling.frequency_penalty = frequencies[(i / 4) % 4 == 0 ? 0 : (i % 4 == 1 ? 3 : i % 4)];
    requests.push_back(std::move(r));
  }
  std::unique_ptr<Engine> alone;
  ASSERT_TRUE(Engine::create(engine_options(), &alone).is_ok());
  std::vector<std::vector<int32_t>> expected;
  int changed = 0;
  for (const Request& r : requests) {
    expected.push_back(host_sampled(*alone, r));
    Request plain = r;
    plain.sampling.repetition_penalty = 1.0f;
    plain.sampling.presence_penalty = plain.sampling.frequency_penalty = 0.0f;
    changed += host_sampled(*alone, plain) != expected.back();
  }
  EXPECT_GT(changed, 4);  // the penalties decide tokens here, so a device path ignoring them would show

  ServeOptions serve;
  serve.kv_block_size = 4;
  serve.kv_blocks = 48;  // constant preemption: outputs are carried over recomputation
  serve.max_num_batched_tokens = 64;
  std::unique_ptr<AsyncEngine> engine;
  ASSERT_TRUE(AsyncEngine::create(engine_options(), serve, &engine).is_ok());
  const auto got = run_all(*engine, requests);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], expected[i]) << "request " << i;
  EXPECT_GT(engine->stats().n_preemptions, 0);
}

}  // namespace
}  // namespace autoglm

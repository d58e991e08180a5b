// Split steps (ServeOptions::split_mixed_steps): a step's decodes on a second backend of the device beside
// its prompt tokens on the first. On the CPU the two passes run one after the other, but through the same
// code: which rows go where, each pass's choices into its rows of the step's ids, pending inputs read by the
// decode pass, and every rank state left as one pass leaves it. Requests get the tokens one pass gives them:
// greedy, stopped on a token, chunked, preempted and recomputed, behind a cached prefix, and beside requests
// the host samples for (drawn with seeds, penalised: those steps do not split).
#include <gtest/gtest.h>

#include <random>

#include "autoglm/async_engine.h"
#include "support/engine_runs.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::unique_ptr<AsyncEngine> make_async(const ServeOptions& serve) {
  EngineOptions o;
  o.model_path = test::fixture_dir("llama");
  o.n_threads = 2;
  o.max_context = 256;
  std::unique_ptr<AsyncEngine> engine;
  const Status s = AsyncEngine::create(o, serve, &engine);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return engine;
}

// host_rows: some requests draw with seeds or carry penalties (on the CPU their steps run step by step and
// do not split).
std::vector<Request> mixed_requests(uint32_t seed, int n, bool host_rows) {
  std::mt19937 rng(seed);
  const std::vector<int32_t> shared = {5, 9, 14, 3, 77, 12, 8, 40, 41, 42, 43, 44};
  std::vector<Request> requests;
  for (int i = 0; i < n; ++i) {
    Request r;
    if (i % 5 == 0) r.prompt = shared;  // a prefix the cache serves after the first
    for (uint32_t k = 1 + rng() % 60; k > 0; --k)
      r.prompt.push_back(static_cast<int32_t>(rng() % 300));
    r.max_tokens = 1 + static_cast<int32_t>(rng() % 24);
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    if (i % 3 == 0) r.stop_token_ids = {static_cast<int32_t>(rng() % 300)};
    if (host_rows && i % 7 == 2) {
      r.sampling.temperature = 0.9f;
      r.sampling.top_k = 20;
      r.sampling.seed = 500 + i;
    }
    if (host_rows && i % 13 == 6) r.sampling.repetition_penalty = 1.2f;
    requests.push_back(std::move(r));
  }
  return requests;
}

ServeOptions split_options(bool split) {
  ServeOptions serve;
  serve.max_num_seqs = 48;
  serve.max_num_batched_tokens = 96;  // prompts arrive in chunks beside the running decodes
  serve.kv_block_size = 4;
  serve.split_mixed_steps = split;
  serve.split_min_decodes = 4;
  serve.split_min_prompt_tokens = 8;
  return serve;
}

TEST(AsyncEngineSplit, SplitStepsGiveTheTokensOfOnePass) {
  const std::vector<Request> requests = mixed_requests(17, 64, false);
  auto reference = make_async(split_options(false));
  const auto want = test::run_all(*reference, requests);
  EXPECT_EQ(reference->stats().n_steps_split, 0);
  auto engine = make_async(split_options(true));
  const auto got = test::run_all(*engine, requests);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], want[i]) << "request " << i;
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.n_steps_split, 0);
  EXPECT_LT(stats.n_steps_split, stats.n_steps);  // decode-only and penalised steps ran as one pass
  EXPECT_GT(stats.prefix_hits, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

// A pool too small for everyone: requests are preempted and recomputed while steps split.
TEST(AsyncEngineSplit, PreemptedRequestsGetTheTokensOfOnePass) {
  const std::vector<Request> requests = mixed_requests(23, 40, false);
  ServeOptions one = split_options(false), two = split_options(true);
  one.kv_blocks = two.kv_blocks = 80;
  auto reference = make_async(one);
  const auto want = test::run_all(*reference, requests);
  auto engine = make_async(two);
  const auto got = test::run_all(*engine, requests);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], want[i]) << "request " << i;
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.n_steps_split, 0);
  EXPECT_GT(stats.n_preemptions, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

// Requests the host samples for (seeded draws, penalties) beside ones chosen on the device: the same tokens
// whichever steps split.
TEST(AsyncEngineSplit, HostSampledRequestsGetTheTokensOfOnePass) {
  const std::vector<Request> requests = mixed_requests(29, 48, true);
  auto reference = make_async(split_options(false));
  const auto want = test::run_all(*reference, requests);
  auto engine = make_async(split_options(true));
  const auto got = test::run_all(*engine, requests);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], want[i]) << "request " << i;
  EXPECT_LT(engine->stats().n_steps_split, engine->stats().n_steps);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace autoglm

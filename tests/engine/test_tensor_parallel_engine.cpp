// The engines over a tensor-parallel group of CPU ranks (EngineOptions::tensor_parallel; ranks are threads
// with their own backend, model shard and KV cache): the single-sequence path and the serving engine give
// HF's greedy tokens on the golden fixtures, and the serving engine's requests (mixed lengths, chunked
// prefill, stop ids, scheduled ahead and step by step, preempted and recomputed) get the tokens the same
// group gives each alone.
#include <gtest/gtest.h>

#include <random>

#include "autoglm/async_engine.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

EngineOptions tp_options(const std::string& fixture, int world) {
  EngineOptions o;
  o.model_path = test::fixture_dir(fixture);
  o.n_threads = 2;
  o.max_context = 256;
  o.tensor_parallel = world;
  return o;
}

std::vector<int32_t> generate(Engine& engine, const std::vector<int32_t>& prompt, int32_t n,
                              std::vector<int32_t> stop_ids = {}) {
  GenerateRequest g;
  g.prompt = prompt;
  g.max_tokens = n;
  g.sampling.temperature = 0;
  g.ignore_eos = true;
  g.stop_token_ids = std::move(stop_ids);
  GenerateResult result;
  const Status s = engine.generate(g, &result);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return result.tokens;
}

std::vector<int32_t> drain(RequestStream& stream, bool* finished) {
  std::vector<int32_t> tokens;
  RequestEvent e;
  while (stream.next(&e)) {
    EXPECT_TRUE(e.error.is_ok()) << e.error.to_string();
    tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
    *finished = *finished || e.finished;
  }
  return tokens;
}

TEST(TensorParallelEngine, GenerateOverTwoRanksGivesHfGreedyTokens) {
  for (const char* name : {"llama", "qwen2", "glm4"}) {
    SCOPED_TRACE(name);
    const test::GoldenFixture golden = test::load_golden(name);
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(Engine::create(tp_options(name, 2), &engine).is_ok());
    for (const auto& p : golden.prompts)
      EXPECT_EQ(generate(*engine, p.ids, static_cast<int32_t>(p.greedy.size())), p.greedy);
  }
}

TEST(TensorParallelEngine, ServingOverTwoRanksGivesHfGreedyTokensTogether) {
  for (const char* name : {"llama", "mistral", "glm"}) {
    SCOPED_TRACE(name);
    const test::GoldenFixture golden = test::load_golden(name);
    std::unique_ptr<AsyncEngine> engine;
    ASSERT_TRUE(AsyncEngine::create(tp_options(name, 2), {}, &engine).is_ok());
    std::vector<std::unique_ptr<RequestStream>> streams;
    for (const auto& p : golden.prompts) {
      Request r;
      r.prompt = p.ids;
      r.max_tokens = static_cast<int32_t>(p.greedy.size());
      r.sampling.temperature = 0;
      r.ignore_eos = true;
      streams.emplace_back();
      ASSERT_TRUE(engine->submit(r, &streams.back()).is_ok());
    }
    for (size_t i = 0; i < streams.size(); ++i) {
      bool finished = false;
      EXPECT_EQ(drain(*streams[i], &finished), golden.prompts[i].greedy) << "prompt " << i;
      EXPECT_TRUE(finished);
    }
  }
}

TEST(TensorParallelEngine, ServedRequestsGetTheTokensTheGroupGivesThemAlone) {
  std::mt19937 rng(17);
  struct Case {
    std::vector<int32_t> prompt;
    int32_t max_tokens;
    std::vector<int32_t> stop_ids;
  };
  std::vector<Case> cases;
  for (int i = 0; i < 24; ++i) {
    Case c;
    c.prompt.resize(static_cast<size_t>(1 + rng() % 70));
    for (int32_t& t : c.prompt)
      t = static_cast<int32_t>(rng() % 1024);
    c.max_tokens = 1 + static_cast<int32_t>(rng() % 20);
    if (i % 3 == 0) c.stop_ids = {static_cast<int32_t>(rng() % 1024)};
    cases.push_back(std::move(c));
  }
  std::unique_ptr<Engine> alone;
  ASSERT_TRUE(Engine::create(tp_options("llama", 2), &alone).is_ok());
  std::vector<std::vector<int32_t>> expected;
  for (const Case& c : cases)
    expected.push_back(generate(*alone, c.prompt, c.max_tokens, c.stop_ids));
  for (int run = 0; run < 3; ++run) {
    const bool ahead = run != 1, preempting = run == 2;
    SCOPED_TRACE(preempting ? "a small KV pool" : ahead ? "scheduled ahead" : "step by step");
    ServeOptions serve;
    serve.max_num_batched_tokens = 40;  // chunked prefill beside the decodes
    serve.kv_block_size = preempting ? 4 : 8;
    if (preempting) serve.kv_blocks = 30;  // 120 slots for 24 requests of up to ~90 tokens: preemption
    serve.async_scheduling = ahead;
    std::unique_ptr<AsyncEngine> engine;
    ASSERT_TRUE(AsyncEngine::create(tp_options("llama", 2), serve, &engine).is_ok());
    std::vector<std::unique_ptr<RequestStream>> streams;
    for (const Case& c : cases) {
      Request r;
      r.prompt = c.prompt;
      r.max_tokens = c.max_tokens;
      r.sampling.temperature = 0;
      r.ignore_eos = true;
      r.stop_token_ids = c.stop_ids;
      streams.emplace_back();
      ASSERT_TRUE(engine->submit(r, &streams.back()).is_ok());
    }
    for (size_t i = 0; i < streams.size(); ++i) {
      bool finished = false;
      EXPECT_EQ(drain(*streams[i], &finished), expected[i]) << "request " << i;
      EXPECT_TRUE(finished);
    }
    const EngineStats stats = engine->stats();
    EXPECT_EQ(stats.kv_blocks_used, 0);
    EXPECT_EQ(stats.n_finished, 24);
    if (ahead) {
      EXPECT_GT(stats.n_steps_ahead, 0);
    }
    if (preempting) {
      EXPECT_GT(stats.n_preemptions, 0);
    }
  }
}

TEST(TensorParallelEngine, AGroupTheModelCannotBeSplitOverIsRefused) {
  std::unique_ptr<Engine> engine;
  const Status s = Engine::create(tp_options("llama3", 2), &engine);  // 3 heads
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_EQ(Engine::create(tp_options("llama", 0), &engine).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

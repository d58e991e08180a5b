// The public engine API: request validation, stop conditions, cancellation and determinism.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "autoglm/engine.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::unique_ptr<Engine> make_engine(const std::string& fixture, int64_t max_context = 0) {
  EngineOptions options;
  options.model_path = test::fixture_dir(fixture);
  options.n_threads = 2;
  options.max_context = max_context;
  std::unique_ptr<Engine> engine;
  const Status s = Engine::create(options, &engine);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return engine;
}

GenerateRequest greedy_request(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.ignore_eos = true;
  return r;
}

TEST(Engine, GreedyMatchesHfAndReportsModelInfo) {
  const auto golden = test::load_golden("glm4");
  auto engine = make_engine("glm4");
  ASSERT_TRUE(engine);
  GenerateResult result;
  ASSERT_TRUE(engine->generate(greedy_request(golden.prompts[2].ids, 32), &result).is_ok());
  EXPECT_EQ(result.tokens, golden.prompts[2].greedy);
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
  const ModelInfo info = engine->model_info();
  EXPECT_EQ(info.architecture, "Glm4ForCausalLM");
  EXPECT_EQ(info.vocab_size, 1024);
  EXPECT_EQ(info.weight_dtype, "f32");
  EXPECT_GT(info.weight_bytes_per_step, 0u);
}

TEST(Engine, StopsAtAStopTokenAndIncludesIt) {
  const auto golden = test::load_golden("llama");
  auto engine = make_engine("llama");
  GenerateRequest request = greedy_request(golden.prompts[1].ids, 32);
  request.stop_token_ids = {golden.prompts[1].greedy[5]};
  GenerateResult result;
  ASSERT_TRUE(engine->generate(request, &result).is_ok());
  EXPECT_EQ(result.finish_reason, FinishReason::kStop);
  const auto& g = golden.prompts[1].greedy;
  const auto first_stop = std::find(g.begin(), g.end(), g[5]);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(g.begin(), first_stop + 1));
}

TEST(Engine, CallbackCancels) {
  auto engine = make_engine("llama");
  GenerateResult result;
  int seen = 0;
  ASSERT_TRUE(
      engine->generate(greedy_request({5, 6, 7}, 20), &result, [&](int32_t) { return ++seen < 3; }).is_ok());
  EXPECT_EQ(result.tokens.size(), 3u);
  EXPECT_EQ(result.finish_reason, FinishReason::kCancelled);
}

TEST(Engine, StopsWhenTheContextIsFull) {
  auto engine = make_engine("llama", 10);
  GenerateResult result;
  ASSERT_TRUE(engine->generate(greedy_request({5, 6, 7, 8}, 50), &result).is_ok());
  EXPECT_EQ(result.tokens.size(), 7u);  // positions 4..9 are fed back, so 10 - 4 + 1 tokens come out
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
}

TEST(Engine, RejectsInvalidRequests) {
  auto engine = make_engine("llama", 16);
  GenerateResult result;
  EXPECT_EQ(engine->generate(greedy_request({}, 4), &result).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->generate(greedy_request({1, 2, 5000}, 4), &result).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->generate(greedy_request({-3}, 4), &result).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->generate(greedy_request(std::vector<int32_t>(17, 5), 4), &result).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->generate(greedy_request({1}, -1), &result).code(), StatusCode::kInvalidArgument);
  // The engine stays usable after rejected requests.
  ASSERT_TRUE(engine->generate(greedy_request({5, 6}, 3), &result).is_ok());
  EXPECT_EQ(result.tokens.size(), 3u);
}

TEST(Engine, SeededSamplingIsReproducibleAndEosStops) {
  auto engine = make_engine("qwen3");
  GenerateRequest request;
  request.prompt = {11, 12, 13};
  request.max_tokens = 40;
  request.sampling.temperature = 1.5f;
  request.sampling.seed = 7;
  GenerateResult a, b;
  ASSERT_TRUE(engine->generate(request, &a).is_ok());
  ASSERT_TRUE(engine->generate(request, &b).is_ok());
  EXPECT_EQ(a.tokens, b.tokens);
  // Without ignore_eos, the config's EOS id (2) ends generation if it is drawn.
  for (size_t i = 0; i + 1 < a.tokens.size(); ++i)
    EXPECT_NE(a.tokens[i], 2);
}

TEST(Engine, CreateFailsCleanly) {
  EngineOptions options;
  options.model_path = test::fixture_dir("llama");
  options.weight_dtype = "int4";
  std::unique_ptr<Engine> engine;
  EXPECT_EQ(Engine::create(options, &engine).code(), StatusCode::kInvalidArgument);
  options.weight_dtype = "fp8";  // a KV cache type, not a weight type
  EXPECT_EQ(Engine::create(options, &engine).code(), StatusCode::kInvalidArgument);
  options.weight_dtype = "";
  options.backend = "tpu";
  EXPECT_EQ(Engine::create(options, &engine).code(), StatusCode::kNotFound);
  EXPECT_FALSE(engine);
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// generation_config.json may name EOS ids that config.json does not (Llama 3 instruct checkpoints do).
TEST(Engine, StopsAtEosFromGenerationConfig) {
  namespace fs = std::filesystem;
  const auto golden = test::load_golden("mistral");
  const std::string dir = test::temp_dir("engine_generation_eos");
  for (const auto& entry : fs::directory_iterator(golden.dir))
    fs::copy(entry.path(), dir + "/" + entry.path().filename().string());
  const int32_t eos = golden.prompts[0].greedy[3];
  std::ofstream(dir + "/generation_config.json") << "{\"eos_token_id\": [2, " << eos << "]}";
  EngineOptions options;
  options.model_path = dir;
  options.n_threads = 2;
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::create(options, &engine).is_ok());
  GenerateRequest request = greedy_request(golden.prompts[0].ids, 32);
  request.ignore_eos = false;
  GenerateResult result;
  ASSERT_TRUE(engine->generate(request, &result).is_ok());
  EXPECT_EQ(result.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result.tokens.back(), eos);
  EXPECT_LE(result.tokens.size(), 4u);
}

}  // namespace
}  // namespace autoglm

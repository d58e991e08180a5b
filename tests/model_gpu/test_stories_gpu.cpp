// The real pretrained stories260K (GGUF, f32) on the GPU through the public engine API: greedy from BOS
// reproduces llama2.c's reference text byte for byte with f32 weights (exact kernels, f32 KV cache, decode
// replayed from a CUDA-graph recording). Reads ../shared/data (or AUTOGLM_SHARED_DATA).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "autoglm/engine.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(StoriesOnGpu, GreedyFromBosMatchesLlama2c) {
  const std::string dir = test::shared_data_dir() + "/models/stories260K/";
  EngineOptions options;
  options.model_path = dir + "stories260K.gguf";
  options.backend = "cuda";
  options.weight_dtype = "f32";
  std::unique_ptr<Engine> engine;
  const Status s = Engine::create(options, &engine);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  GenerateRequest request;
  request.prompt = {1};  // BOS
  request.max_tokens = 200;
  request.sampling.temperature = 0;
  GenerateResult result;
  ASSERT_TRUE(engine->generate(request, &result).is_ok());
  ASSERT_EQ(result.tokens.size(), 200u);
  std::string text;
  ASSERT_TRUE(engine->detokenize(result.tokens, true, &text).is_ok());
  EXPECT_EQ(text, read_text(dir + "expected_greedy_t0_n200.txt"));
}

}  // namespace
}  // namespace autoglm

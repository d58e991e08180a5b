// Penalties and top-k decided on the GPU (ops/apply_penalties.h, ops/sample_rows.h) against the host sampler
// on the same logits: a request asking for logprobs brings its rows to the host sampler, the same request
// without them is decided on the device, from the same seeded uniforms.
//  * Greedy with penalties: the same tokens (the penalties are bit-exact, argmax is exact).
//  * top_k = 1 draws: the greedy tokens.
//  * top_k draws, with and without penalties: the same tokens, but for a draw landing within rounding of a
//    CDF boundary (the device computes exp((x - max) / t), the host exp(x / t - max / t)).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "autoglm/async_engine.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

EngineOptions cuda_options() {
  EngineOptions o;
  o.model_path = test::fixture_dir("llama");
  o.backend = "cuda";
  o.weight_dtype = "f32";
  o.max_context = 256;
  return o;
}

std::vector<int32_t> run_alone(AsyncEngine& engine, const Request& r) {
  std::unique_ptr<RequestStream> stream;
  EXPECT_TRUE(engine.submit(r, &stream).is_ok());
  std::vector<int32_t> tokens;
  RequestEvent e;
  while (stream && stream->next(&e)) {
    EXPECT_TRUE(e.error.is_ok()) << e.error.to_string();
    tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
  }
  return tokens;
}

std::vector<Request> requests_with(uint32_t seed, float temperature, int32_t top_k, bool penalties) {
  std::mt19937 rng(seed);
  std::vector<Request> requests;
  for (int i = 0; i < 12; ++i) {
    Request r;
    const int n = 2 + static_cast<int>(rng() % 30);
    for (int j = 0; j < n; ++j)
      r.prompt.push_back(static_cast<int32_t>(rng() % 96));
    r.max_tokens = 24;
    r.ignore_eos = true;
    r.sampling.temperature = temperature;
    r.sampling.top_k = top_k;
    r.sampling.seed = 500 + static_cast<uint64_t>(i);
    if (penalties) {
      r.sampling.repetition_penalty = i % 3 == 0 ? 1.0f : 1.4f;
      r.sampling.presence_penalty = i % 3 == 1 ? 0.0f : 0.5f;
      r.sampling.frequency_penalty = i % 2 == 0 ? 0.4f : -0.2f;
    }
    requests.push_back(std::move(r));
  }
  return requests;
}

// Each request decided on the device and by the host sampler; returns how many differ.
int device_against_host(AsyncEngine& engine, const std::vector<Request>& requests) {
  int differ = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::vector<int32_t> device = run_alone(engine, requests[i]);
    Request on_host = requests[i];
    on_host.logprobs = 0;
    const std::vector<int32_t> host = run_alone(engine, on_host);
    EXPECT_EQ(device.size(), host.size());
    differ += device != host;
    if (device != host) std::printf("request %zu: device and host tokens differ\n", i);
  }
  return differ;
}

TEST(DeviceSamplingGpu, GreedyWithPenaltiesEqualsTheHostSampler) {
  std::unique_ptr<AsyncEngine> engine;
  ASSERT_TRUE(AsyncEngine::create(cuda_options(), ServeOptions{}, &engine).is_ok());
  const std::vector<Request> penalized = requests_with(3, 0.0f, 0, true);
  EXPECT_EQ(device_against_host(*engine, penalized), 0);
  // The penalties decide tokens here.
  int changed = 0;
  for (const Request& r : penalized) {
    Request plain = r;
    plain.sampling.repetition_penalty = 1.0f;
    plain.sampling.presence_penalty = plain.sampling.frequency_penalty = 0.0f;
    changed += run_alone(*engine, plain) != run_alone(*engine, r);
  }
  EXPECT_GT(changed, 3);
}

TEST(DeviceSamplingGpu, TopKOneDrawsTheGreedyTokens) {
  std::unique_ptr<AsyncEngine> engine;
  ASSERT_TRUE(AsyncEngine::create(cuda_options(), ServeOptions{}, &engine).is_ok());
  const std::vector<Request> top1 = requests_with(5, 0.9f, 1, false);
  for (const Request& r : top1) {
    Request greedy = r;
    greedy.sampling.temperature = 0.0f;
    EXPECT_EQ(run_alone(*engine, r), run_alone(*engine, greedy));
  }
}

TEST(DeviceSamplingGpu, TopKDrawsFollowTheHostSampler) {
  std::unique_ptr<AsyncEngine> engine;
  ASSERT_TRUE(AsyncEngine::create(cuda_options(), ServeOptions{}, &engine).is_ok());
  for (int32_t k : {3, 20}) {
    for (bool penalties : {false, true}) {
      SCOPED_TRACE("k " + std::to_string(k) + (penalties ? " with penalties" : ""));
      const std::vector<Request> requests = requests_with(7 + static_cast<uint32_t>(k), 1.0f, k, penalties);
      EXPECT_LE(device_against_host(*engine, requests), 1);
      // Different seeds draw differently: the draws are not all the argmax.
      int moved = 0;
      for (const Request& r : requests) {
        Request other = r;
        *other.sampling.seed += 1000;
        moved += run_alone(*engine, other) != run_alone(*engine, r);
      }
      EXPECT_GT(moved, 3);
    }
  }
}

}  // namespace
}  // namespace autoglm

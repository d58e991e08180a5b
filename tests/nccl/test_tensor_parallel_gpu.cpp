// Tensor parallelism over two GPUs (ModelGroup on the CUDA backend: NCCL collectives, each rank's shard of
// the checkpoint on its own device): the golden fixtures' last-position logits against HF within the whole
// model's bounds (f32 weights: 1e-4; bf16: the bf16 bound, and within it of one GPU's bf16 logits), and HF's
// greedy tokens with f32 weights. The two-GPU cases are skipped, and say so, on a machine with one.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>

#include "engine/model_group.h"
#include "graph/executor.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr double kF32RelError = 1e-4;  // tests/support/golden_suite.h
constexpr double kBf16RelError = 2.5e-2;

int gpu_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

struct GroupOutcome {
  std::vector<std::vector<float>> logits;    // per prompt, last position
  std::vector<std::vector<int32_t>> greedy;  // per prompt, as many tokens as HF's continuation
};

GroupOutcome run_group(const test::GoldenFixture& f, int world, DType dtype) {
  GroupOutcome out;
  auto group = ModelGroup::create("cuda", {}, world, [&](Backend& backend, const ParallelOptions& parallel) {
    ModelLoadOptions options;
    options.weight_dtype = dtype;
    options.parallel = parallel;
    return Model::load(f.dir, backend, options);
  });
  EXPECT_TRUE(group.has_value()) << group.status().to_string();
  if (!group) return out;
  ModelGroup& g = **group;
  for (const test::GoldenPrompt& p : f.prompts) {
    std::vector<std::unique_ptr<Executor>> executors;
    std::vector<KvCache> caches;
    for (int r = 0; r < world; ++r) {
      const Model& m = g.model(r);
      executors.push_back(std::make_unique<Executor>(g.backend(r)));
      caches.push_back(KvCache::create(g.backend(r), m.local_config(), 128, m.kv_dtype()).value());
    }
    std::vector<TensorView> logits(static_cast<size_t>(world));
    std::vector<int32_t> step = p.ids, tokens;
    while (tokens.size() < p.greedy.size()) {
      const Status s = g.run([&](int r) -> Status {
        const auto i = static_cast<size_t>(r);
        AUTOGLM_ASSIGN_OR_RETURN(logits[i], g.model(r).forward(*executors[i], caches[i], step));
        return Status::ok();
      });
      EXPECT_TRUE(s.is_ok()) << s.to_string();
      if (!s.is_ok()) return out;
      std::vector<float> all(static_cast<size_t>(logits[0].numel()));
      EXPECT_TRUE(g.backend(0)
                      .copy(TensorView{all.data(), DType::kF32, logits[0].shape, Device{}}, logits[0])
                      .is_ok());
      const std::vector<float> row(all.end() - logits[0].shape[1], all.end());
      if (tokens.empty()) out.logits.push_back(row);
      tokens.push_back(static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
      step = {tokens.back()};
    }
    out.greedy.push_back(tokens);
  }
  return out;
}

const char* const kFixtures[] = {"llama", "qwen2", "glm4"};  // their heads split over two ranks

// The same harness at one rank (the group's direct call, no collectives): HF's logits and tokens, so that
// what the two-GPU tests measure is the split, not the harness.
TEST(TensorParallelGpu, OneRankGroupGivesHfLogitsAndGreedyTokens) {
  const test::GoldenFixture f = test::load_golden("llama");
  const GroupOutcome one = run_group(f, 1, DType::kF32);
  ASSERT_EQ(one.logits.size(), f.prompts.size());
  for (size_t i = 0; i < f.prompts.size(); ++i) {
    EXPECT_LE(test::rel_max_abs_error(one.logits[i], f.prompts[i].logits), kF32RelError) << "prompt " << i;
    EXPECT_EQ(one.greedy[i], f.prompts[i].greedy) << "prompt " << i;
  }
}

TEST(TensorParallelGpu, TwoGpusGiveHfLogitsAndGreedyTokens) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs, found " << gpu_count();
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    const test::GoldenFixture f = test::load_golden(name);
    const GroupOutcome two = run_group(f, 2, DType::kF32);
    ASSERT_EQ(two.logits.size(), f.prompts.size());
    for (size_t i = 0; i < f.prompts.size(); ++i) {
      const double rel = test::rel_max_abs_error(two.logits[i], f.prompts[i].logits);
      std::printf("[%s] prompt %zu: f32 over 2 GPUs, rel max-abs error %.2e\n", name, i, rel);
      EXPECT_LE(rel, kF32RelError) << "prompt " << i;
      EXPECT_EQ(two.greedy[i], f.prompts[i].greedy) << "prompt " << i;
    }
  }
}

TEST(TensorParallelGpu, TwoGpusBf16StayWithinTheBoundOfHfAndOfOneGpu) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs, found " << gpu_count();
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    const test::GoldenFixture f = test::load_golden(name);
    const GroupOutcome one = run_group(f, 1, DType::kBF16), two = run_group(f, 2, DType::kBF16);
    ASSERT_EQ(one.logits.size(), f.prompts.size());
    ASSERT_EQ(two.logits.size(), f.prompts.size());
    for (size_t i = 0; i < f.prompts.size(); ++i) {
      const double hf = test::rel_max_abs_error(two.logits[i], f.prompts[i].logits);
      const double gpu1 = test::rel_max_abs_error(two.logits[i], one.logits[i]);
      std::printf("[%s] prompt %zu: bf16 over 2 GPUs, rel max-abs error %.2e to HF, %.2e to one GPU\n", name,
                  i, hf, gpu1);
      EXPECT_LE(hf, kBf16RelError) << "prompt " << i;
      EXPECT_LE(gpu1, kBf16RelError) << "prompt " << i;
    }
  }
}

}  // namespace
}  // namespace autoglm

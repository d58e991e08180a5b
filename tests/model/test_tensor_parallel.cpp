// Tensor parallelism on the CPU: each golden fixture split over a group of ranks (threads of one process,
// each with its own backend, its own shard of the checkpoint and its own KV cache, collectives through a
// LocalGroup) gives HF's logits within the bound of the whole model, the same logits on every rank, and
// HF's greedy tokens. Groups: 2 ranks (KV heads split, vocabulary split), 4 ranks (KV heads replicated: two
// ranks per KV head), 3 ranks on the fixture with 3 heads and one KV head (vocabulary kept whole). And a
// rank loads only its part: its weights are that fraction of the whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "backend/backend.h"
#include "graph/executor.h"
#include "model/model.h"
#include "parallel/local_communicator.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr double kF32RelError = 1e-4;  // the whole model's bound (tests/support/golden_suite.h)

std::vector<float> to_host(Model& model, const TensorView& logits) {
  std::vector<float> row(static_cast<size_t>(logits.shape[0] * logits.shape[1]));
  EXPECT_TRUE(
      model.backend().copy(TensorView{row.data(), DType::kF32, logits.shape, Device{}}, logits).is_ok());
  return std::vector<float>(row.end() - logits.shape[1], row.end());  // the last row
}

struct RankOutcome {
  Status status;
  size_t weight_bytes = 0;
  std::vector<std::vector<float>> logits;    // per prompt, last position
  std::vector<std::vector<int32_t>> greedy;  // per prompt, as many tokens as HF's continuation
};

RankOutcome run_rank(const test::GoldenFixture& f, int rank, int world, Communicator* comm) {
  RankOutcome out;
  auto backend = create_backend("cpu", {.n_threads = 1});
  if (!backend) {
    out.status = backend.status();
    return out;
  }
  ModelLoadOptions options;
  options.parallel = {{rank, world}, comm};
  auto loaded = Model::load(f.dir, **backend, options);
  if (!loaded) {
    out.status = loaded.status();
    return out;
  }
  Model& model = **loaded;
  out.weight_bytes = model.weights().matrix_bytes;
  for (const test::GoldenPrompt& p : f.prompts) {
    Executor executor(model.backend());
    auto cache = KvCache::create(model.backend(), model.local_config(), 128, model.kv_dtype()).value();
    std::vector<int32_t> step = p.ids;
    std::vector<int32_t> tokens;
    while (tokens.size() < p.greedy.size()) {
      auto logits = model.forward(executor, cache, step);
      if (!logits) {
        out.status = logits.status();
        return out;
      }
      std::vector<float> row = to_host(model, *logits);
      if (tokens.empty()) out.logits.push_back(row);
      tokens.push_back(static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
      step = {tokens.back()};
    }
    out.greedy.push_back(tokens);
  }
  return out;
}

std::vector<RankOutcome> run_group(const test::GoldenFixture& f, int world) {
  LocalGroup group(world);
  std::vector<RankOutcome> outcomes(static_cast<size_t>(world));
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < world; ++r)
    comms.push_back(group.communicator(r));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back(
        [&, r] { outcomes[static_cast<size_t>(r)] = run_rank(f, r, world, comms[r].get()); });
  for (auto& t : threads)
    t.join();
  return outcomes;
}

void check_group(const std::string& fixture, int world) {
  SCOPED_TRACE(fixture + " over " + std::to_string(world) + " ranks");
  const test::GoldenFixture f = test::load_golden(fixture);
  const RankOutcome whole = run_rank(f, 0, 1, nullptr);
  ASSERT_TRUE(whole.status.is_ok()) << whole.status.to_string();
  const std::vector<RankOutcome> ranks = run_group(f, world);
  size_t shard_bytes = 0;
  for (int r = 0; r < world; ++r) {
    const RankOutcome& o = ranks[static_cast<size_t>(r)];
    ASSERT_TRUE(o.status.is_ok()) << "rank " << r << ": " << o.status.to_string();
    ASSERT_EQ(o.logits.size(), f.prompts.size());
    shard_bytes += o.weight_bytes;
    for (size_t i = 0; i < f.prompts.size(); ++i) {
      const test::GoldenPrompt& p = f.prompts[i];
      EXPECT_EQ(o.logits[i], ranks[0].logits[i])
          << "rank " << r << " prompt " << i << ": every rank gets the same";
      const double rel = test::rel_max_abs_error(o.logits[i], p.logits);
      EXPECT_LE(rel, kF32RelError) << "rank " << r << " prompt " << i;
      EXPECT_EQ(o.greedy[i], p.greedy) << "rank " << r << " prompt " << i;
      EXPECT_EQ(o.greedy[i], whole.greedy[i]);
      if (r == 0) {
        std::printf("[tp %d %s] prompt %zu tokens: rel max-abs error %.2e vs HF, %.2e vs one rank\n", world,
                    fixture.c_str(), p.ids.size(), rel,
                    test::rel_max_abs_error(o.logits[i], whole.logits[i]));
      }
    }
  }
  // Every rank holds its part, not the whole: together about the whole model (the replicated parts, norms,
  // and KV heads shared by several ranks, a little more).
  EXPECT_LT(ranks[0].weight_bytes, whole.weight_bytes * 3 / 4);
  EXPECT_GE(shard_bytes, whole.weight_bytes);
}

TEST(TensorParallelCpu, TwoRanksSplitHeadsKvHeadsFeaturesAndVocabulary) {
  for (const char* name : {"llama", "mistral", "qwen2", "qwen3", "glm", "glm4"})
    check_group(name, 2);
}

TEST(TensorParallelCpu, FourRanksShareEachKvHeadBetweenTwo) {
  for (const char* name : {"llama", "qwen2", "glm4"})
    check_group(name, 4);
}

TEST(TensorParallelCpu, ThreeRanksOverOneKvHeadAndAWholeVocabulary) {
  check_group("llama3", 3);
}

TEST(TensorParallelCpu, ShapesThatCannotBeSplitAreRefused) {
  auto backend = create_backend("cpu", {.n_threads = 1}).value();
  LocalGroup group(2);
  auto comm = group.communicator(0);
  ModelLoadOptions options;
  options.parallel = {{0, 2}, comm.get()};
  auto refused = Model::load(test::fixture_dir("llama3"), *backend, options);  // 3 heads over 2 ranks
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.status().message().find("attention heads"), std::string::npos)
      << refused.status().to_string();
  options.parallel = {{1, 2}, comm.get()};  // the communicator of another rank
  EXPECT_EQ(Model::load(test::fixture_dir("llama"), *backend, options).status().code(),
            StatusCode::kInvalidArgument);
  options.parallel = {{0, 2}, nullptr};
  EXPECT_EQ(Model::load(test::fixture_dir("llama"), *backend, options).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

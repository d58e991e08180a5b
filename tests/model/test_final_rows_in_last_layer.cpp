// DecoderGraphOptions::final_rows_in_last_layer (on by default): the last layer's o projection and MLP run
// only on the rows whose logits are wanted. A CPU model gives the same logits, bit for bit, as with every
// row through the whole last layer: paged steps mixing decodes, prompt chunks that sample and chunks that do
// not, whole or split in halves, a step that samples nothing, and contiguous prefills with and without every
// row's logits; and the last layer's projections see only the kept rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "graph/executor.h"
#include "model/decoder_graph.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/prefill_inputs.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr int64_t kBlockSize = 4;
constexpr int64_t kBlocks = 32;

struct Built {
  std::vector<float> logits;
  int64_t last_o_rows = -1;     // rows of the last layer's o projection
  int64_t last_down_rows = -1;  // rows of its down projection
};

// The rows of the matmul over weight `name`, or -1 when the graph has none.
int64_t matmul_rows(const Graph& g, const std::string& name) {
  for (const Node& node : g.nodes()) {
    if (node.op != OpKind::kMatmul && node.op != OpKind::kMatmulSwiglu) continue;
    if (g.value(node.inputs[1]).name == name) return g.value(node.output).shape[0];
  }
  return -1;
}

Built run_graph(Graph& g, ValueId logits, Backend& backend, int64_t layers) {
  Built b;
  const std::string last = "layers." + std::to_string(layers - 1) + ".";
  b.last_o_rows = matmul_rows(g, last + "wo");
  b.last_down_rows = matmul_rows(g, last + "w_down");
  Executor executor(backend);
  const Status s = executor.run(g);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  b.logits = test::to_f32(executor.value(g, logits));
  return b;
}

DecoderGraphOptions options_with(bool final_rows_in_last_layer) {
  DecoderGraphOptions options;
  options.final_rows_in_last_layer = final_rows_in_last_layer;
  return options;
}

// One paged step of `slices` over `cache`, split after sequence `split_seq` when it is > 0.
Built paged_step(Model& model, Backend& backend, KvCache& cache, const std::vector<SequenceSlice>& slices,
                 int64_t split_seq, bool final_rows_in_last_layer) {
  std::vector<int32_t> packed;
  BatchStepLayout l;
  Status s = pack_batch_step(slices, kBlockSize, kBlocks, model.config().vocab_size, 0, &packed, &l);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  if (split_seq > 0) {
    s = split_batch_step(split_seq, &packed, &l);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
  }
  PagedStepInputs paged;
  StepInputs in;
  paged_step_inputs(l, packed.data(), Device{}, kBlockSize, &paged, &in);
  Graph g;
  const ValueId logits = build_decoder_graph(g, model.config(), model.spec(), model.weights(), cache, in,
                                             nullptr, options_with(final_rows_in_last_layer));
  return run_graph(g, logits, backend, model.config().num_hidden_layers);
}

Built contiguous_prefill(Model& model, Backend& backend, const std::vector<int32_t>& tokens, bool all_logits,
                         bool final_rows_in_last_layer) {
  const test::PrefillInputs in(tokens);
  auto cache = KvCache::create(backend, model.config(), in.size());
  EXPECT_TRUE(cache.has_value());
  Graph g;
  const ValueId logits =
      build_decoder_graph(g, model.config(), model.spec(), model.weights(), *cache, in.step(all_logits),
                          nullptr, options_with(final_rows_in_last_layer));
  return run_graph(g, logits, backend, model.config().num_hidden_layers);
}

class FinalRowsInLastLayer : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    backend_ = std::move(create_backend("cpu", {.n_threads = 2}).value());
    auto loaded = Model::load(test::fixture_dir(GetParam()), *backend_, {});
    ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
    model_ = std::move(loaded).value();
  }
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
};

TEST_P(FinalRowsInLastLayer, PagedStepsKeepTheirLogits) {
  Model& model = *model_;
  // Four sequences of 8 blocks each: two prompts, then a step of their two decodes, the first chunk of a
  // third prompt (no logits) and a fourth prompt (logits); then a step of the third's chunk alone (no
  // logits).
  const std::vector<int32_t> prompt_a = {1, 17, 42, 9, 3, 77, 5}, prompt_b = {4, 8, 15, 16, 23};
  const std::vector<int32_t> prompt_c = {2, 7, 1, 8, 2, 8, 1, 8, 2}, prompt_d = {11, 13, 19};
  const std::vector<int32_t> decode_a = {29}, decode_b = {31};
  std::vector<int32_t> blocks_a(8), blocks_b(8), blocks_c(8), blocks_d(8);
  std::iota(blocks_a.begin(), blocks_a.end(), 0);
  std::iota(blocks_b.begin(), blocks_b.end(), 8);
  std::iota(blocks_c.begin(), blocks_c.end(), 16);
  std::iota(blocks_d.begin(), blocks_d.end(), 24);
  const std::vector<SequenceSlice> prompts = {{prompt_a, 0, blocks_a, true}, {prompt_b, 0, blocks_b, true}};
  const std::vector<SequenceSlice> mixed = {{decode_a, 7, blocks_a, true},
                                            {decode_b, 5, blocks_b, true},
                                            {prompt_c, 0, blocks_c, false},
                                            {prompt_d, 0, blocks_d, true}};
  const std::vector<SequenceSlice> silent = {{prompt_c, 0, blocks_c, false}};
  const int64_t wanted = 3;  // the mixed step's logit rows
  for (const int64_t split : {int64_t{0}, int64_t{2}}) {
    auto cache_all = KvCache::create(*backend_, model.config(), kBlocks * kBlockSize);
    auto cache_kept = KvCache::create(*backend_, model.config(), kBlocks * kBlockSize);
    ASSERT_TRUE(cache_all.has_value() && cache_kept.has_value());
    for (const auto* step : {&prompts, &mixed, &silent}) {
      SCOPED_TRACE(testing::Message() << "split " << split << ", step of " << step->size() << " slices");
      const int64_t step_split = step == &mixed ? split : 0;
      const Built all = paged_step(model, *backend_, *cache_all, *step, step_split, false);
      const Built kept = paged_step(model, *backend_, *cache_kept, *step, step_split, true);
      ASSERT_FALSE(kept.logits.empty());
      EXPECT_EQ(kept.logits, all.logits);
      if (step == &mixed && split == 0) {
        EXPECT_EQ(all.last_o_rows, 1 + 1 + 9 + 3);
        EXPECT_EQ(kept.last_o_rows, wanted);
        EXPECT_EQ(kept.last_down_rows, wanted);
      }
      if (step == &silent) {
        EXPECT_EQ(kept.last_o_rows, 1);
      }
      if (step == &prompts) {
        EXPECT_EQ(kept.last_o_rows, 2);
      }
    }
  }
}

TEST_P(FinalRowsInLastLayer, ContiguousPrefillsKeepTheirLogits) {
  const std::vector<int32_t> tokens = {1, 17, 42, 9, 3, 77, 5, 21};
  for (const bool all_logits : {false, true}) {
    SCOPED_TRACE(all_logits ? "every row's logits" : "the last row's logits");
    const Built all = contiguous_prefill(*model_, *backend_, tokens, all_logits, false);
    const Built kept = contiguous_prefill(*model_, *backend_, tokens, all_logits, true);
    ASSERT_FALSE(kept.logits.empty());
    EXPECT_EQ(kept.logits, all.logits);
    EXPECT_EQ(all.last_o_rows, 8);
    EXPECT_EQ(kept.last_o_rows, all_logits ? 8 : 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FinalRowsInLastLayer,
                         ::testing::Values("llama", "llama3", "mistral", "qwen2", "qwen3", "glm", "glm4"));

}  // namespace
}  // namespace autoglm

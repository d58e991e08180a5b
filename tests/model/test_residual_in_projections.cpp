// DecoderGraphOptions::residual_in_projections (the CUDA model's graphs): each layer's residual adds ride on
// the o and down projections (matmul addends) with plain norms after, on every fixture architecture without
// norms after its projections (with them, or over several ranks, the graph is built as before); a CPU model
// computes the same logits, bit for bit, either way (the same f32 sums, the same norms).
#include <gtest/gtest.h>

#include <cstdint>
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

struct Built {
  std::vector<float> logits;
  int64_t addends = 0;     // matmuls with an addend
  int64_t fused_adds = 0;  // norms with the residual add fused in
};

Built run(Model& model, Backend& backend, const std::vector<int32_t>& tokens, bool residual_in_projections) {
  const test::PrefillInputs in(tokens);
  auto cache = KvCache::create(backend, model.config(), in.size());
  EXPECT_TRUE(cache.has_value());
  Graph g;
  DecoderGraphOptions options;
  options.residual_in_projections = residual_in_projections;
  const ValueId logits = build_decoder_graph(g, model.config(), model.spec(), model.weights(), *cache,
                                             in.step(/*all_logits=*/true), nullptr, options);
  Built b;
  for (const Node& node : g.nodes()) {
    const bool has_addend = node.inputs.size() > 3 && node.inputs[3].valid();
    if ((node.op == OpKind::kMatmul || node.op == OpKind::kMatmulSwiglu) && has_addend) ++b.addends;
    if (node.op == OpKind::kRmsNorm && node.inputs.size() > 2 && node.inputs[2].valid()) ++b.fused_adds;
  }
  Executor executor(backend);
  const Status s = executor.run(g);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  b.logits = test::to_f32(executor.value(g, logits));
  return b;
}

class ResidualInProjections : public ::testing::TestWithParam<const char*> {};

TEST_P(ResidualInProjections, FoldsTheAddsAndKeepsTheLogits) {
  auto backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  auto loaded = Model::load(test::fixture_dir(GetParam()), *backend, {});
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  Model& model = **loaded;
  const std::vector<int32_t> tokens = {1, 17, 42, 9, 3, 77, 5, 21};
  const Built plain = run(model, *backend, tokens, false);
  const Built folded = run(model, *backend, tokens, true);
  const int64_t layers = model.config().num_hidden_layers;
  EXPECT_EQ(plain.addends, 0);
  if (model.spec().sandwich_norms) {
    EXPECT_EQ(folded.addends, 0);
    EXPECT_EQ(folded.fused_adds, plain.fused_adds);
  } else {
    EXPECT_EQ(plain.fused_adds, 2 * layers - 1);  // the last layer's down add has no norm after it
    EXPECT_EQ(folded.addends, 2 * layers);
    EXPECT_EQ(folded.fused_adds, 0);
  }
  ASSERT_FALSE(plain.logits.empty());
  EXPECT_EQ(folded.logits, plain.logits);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResidualInProjections,
                         ::testing::Values("llama", "llama3", "mistral", "qwen2", "qwen3", "glm", "glm4"));

}  // namespace
}  // namespace autoglm

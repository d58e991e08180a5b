// The 16-bit matmul-input pass on whole decoder graphs (the CUDA backend runs it on every step): on each
// fixture architecture it retypes the norm before every matmul group (attention and MLP of each layer, and
// the final norm), and a CPU model with bf16 weights computes with it what it computes without, to the
// rounding of those norms' outputs: logits within bf16 error and the same greedy token everywhere (the very
// same logits where the CPU matmul rounds x to bf16 itself, AVX512_BF16).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "graph/executor.h"
#include "graph/matmul_input_pass.h"
#include "model/decoder_graph.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/prefill_inputs.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::vector<float> logits_of(Model& model, Backend& backend, const std::vector<int32_t>& tokens) {
  auto cache = KvCache::create(backend, model.config(), static_cast<int64_t>(tokens.size()));
  EXPECT_TRUE(cache.has_value());
  Executor executor(backend);
  auto logits = model.forward(executor, *cache, tokens, /*all_logits=*/true);
  EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
  return test::to_f32(*logits);
}

size_t argmax(const std::vector<float>& v, size_t begin, size_t end) {
  return static_cast<size_t>(std::max_element(v.begin() + static_cast<int64_t>(begin),
                                              v.begin() + static_cast<int64_t>(end)) -
                             v.begin()) -
         begin;
}

class MatmulInputPassModel : public ::testing::TestWithParam<const char*> {};

TEST_P(MatmulInputPassModel, RetypesEveryNormBeforeMatmulsAndKeepsTheTokens) {
  auto backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  auto loaded =
      Model::load(test::fixture_dir(GetParam()), *backend, {.weight_dtype = DType::kBF16, .parallel = {}});
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  Model& model = **loaded;
  const std::vector<int32_t> tokens = {1, 17, 42, 9, 3, 77, 5, 21};

  // The graph of a prefill: the norms feeding q/k/v and gate/up of every layer, and the final norm.
  const test::PrefillInputs in(tokens);
  auto cache = KvCache::create(*backend, model.config(), in.size());
  ASSERT_TRUE(cache.has_value());
  Graph g;
  build_decoder_graph(g, model.config(), model.spec(), model.weights(), *cache, in.step(/*all_logits=*/true));
  ASSERT_TRUE(SixteenBitMatmulInputs().run(g).is_ok());
  int64_t retyped = 0;
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kRmsNorm && std::get<NormAttrs>(node.attrs).out_dtype == DType::kBF16) ++retyped;
  }
  EXPECT_EQ(retyped, 2 * model.config().num_hidden_layers + 1);

  const std::vector<float> plain = logits_of(model, *backend, tokens);
  model.passes().add(std::make_unique<SixteenBitMatmulInputs>());
  const std::vector<float> rounded = logits_of(model, *backend, tokens);
  ASSERT_EQ(plain.size(), rounded.size());
  if (matmul_isa() == MatmulIsa::kAvx512Bf16) {
    // The bf16 dot products round every x to bf16 themselves: the pass changes no bit.
    EXPECT_EQ(plain, rounded);
  } else {
    EXPECT_NE(plain, rounded) << "the norms' outputs were not rounded";
  }
  EXPECT_LE(test::rel_max_abs_error(rounded, plain), 3e-2);
  const auto vocab = static_cast<size_t>(model.config().vocab_size);
  for (size_t row = 0; row < tokens.size(); ++row) {
    EXPECT_EQ(argmax(rounded, row * vocab, (row + 1) * vocab), argmax(plain, row * vocab, (row + 1) * vocab))
        << "position " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MatmulInputPassModel,
                         ::testing::Values("llama", "llama3", "mistral", "qwen2", "qwen3", "glm", "glm4"));

}  // namespace
}  // namespace autoglm

// Every architecture against HF transformers: last-position logits and 32 greedy tokens, on the backend
// the including test binary names (golden_backend_name()): the CPU suite and the GPU suite hold every
// backend to the same reference and the same bounds.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "backend/backend.h"
#include "graph/executor.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {

// Defined by the including test file: "cpu" or "cuda".
const char* golden_backend_name();

namespace {

using test::GoldenFixture;

// f32 bounds of the foundation: max |ours - HF| / max |HF| and cosine similarity of the logit rows.
constexpr double kF32RelError = 1e-4;
constexpr double kF32Cosine = 0.99999;

// bf16 weights: each weight is rounded to 8 significant bits (relative error <= 2^-9, rms ~ 2^-9 / sqrt(3)),
// so each matmul output moves by ~1e-3 of its scale; about a dozen matmuls in series (2 layers x q/k/v, o,
// gate/up, down, then the LM head) and the attention softmax compound that to ~5e-3 of the logit range, as
// measured (see the test's output). The bound leaves ~3x headroom over the worst fixture, and is still 50x
// tighter than what a wrong layout or a missing bias causes (errors of order 1).
constexpr double kBf16RelError = 2.5e-2;
constexpr double kBf16Cosine = 0.9998;

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

Loaded load(const GoldenFixture& f, std::optional<DType> dtype = std::nullopt) {
  Loaded l;
  auto backend = create_backend(golden_backend_name(), {.n_threads = 2});
  EXPECT_TRUE(backend.has_value()) << backend.status().to_string();
  if (!backend) return l;
  l.backend = std::move(*backend);
  ModelLoadOptions options;
  options.weight_dtype = dtype;
  auto model = Model::load(f.dir, *l.backend, options);
  EXPECT_TRUE(model.has_value()) << model.status().to_string();
  if (model) l.model = std::move(*model);
  return l;
}

// The logits as host floats, wherever the backend keeps them.
std::vector<float> host_logits(Model& model, const TensorView& logits) {
  Tensor host = Tensor::host(logits.dtype, logits.shape);
  const Status s = model.backend().copy(host.view(), logits);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return test::to_f32(host.view());
}

std::vector<float> prompt_logits(Model& model, const std::vector<int32_t>& ids) {
  Executor executor(model.backend());
  auto cache = KvCache::create(model.backend(), model.config(), 128, model.kv_dtype()).value();
  auto logits = model.forward(executor, cache, ids);
  EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
  if (!logits) return {};
  return host_logits(model, *logits);
}

std::vector<int32_t> greedy(Model& model, const std::vector<int32_t>& prompt, size_t n) {
  Executor executor(model.backend());
  auto cache = KvCache::create(model.backend(), model.config(), 128, model.kv_dtype()).value();
  std::vector<int32_t> out;
  std::vector<int32_t> step = prompt;
  while (out.size() < n) {
    auto logits = model.forward(executor, cache, step);
    EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
    if (!logits) break;
    const std::vector<float> row = host_logits(model, *logits);
    const int32_t next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    out.push_back(next);
    step = {next};
  }
  return out;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, F32LogitsMatchHf) {
  const GoldenFixture f = test::load_golden(GetParam());
  Loaded l = load(f, DType::kF32);
  ASSERT_TRUE(l.model);
  EXPECT_EQ(l.model->config().architecture, f.architecture);
  for (const auto& p : f.prompts) {
    const std::vector<float> ours = prompt_logits(*l.model, p.ids);
    const double rel = test::rel_max_abs_error(ours, p.logits);
    const double cosine = test::cosine_similarity(ours, p.logits);
    std::printf("[%s %s] prompt %zu tokens: f32 rel max-abs error %.2e (vs HF f64: %.2e), cosine %.9f\n",
                golden_backend_name(), f.name.c_str(), p.ids.size(), rel,
                test::rel_max_abs_error(ours, p.logits_f64), cosine);
    EXPECT_LE(rel, kF32RelError) << f.name << " prompt of " << p.ids.size();
    EXPECT_GE(cosine, kF32Cosine) << f.name << " prompt of " << p.ids.size();
  }
}

TEST_P(GoldenTest, GreedyTokensMatchHf) {
  const GoldenFixture f = test::load_golden(GetParam());
  Loaded l = load(f, DType::kF32);
  ASSERT_TRUE(l.model);
  for (const auto& p : f.prompts) {
    EXPECT_EQ(greedy(*l.model, p.ids, p.greedy.size()), p.greedy) << f.name << " prompt of " << p.ids.size();
  }
}

TEST_P(GoldenTest, Bf16WeightsStayWithinBound) {
  const GoldenFixture f = test::load_golden(GetParam());
  Loaded l = load(f, DType::kBF16);
  ASSERT_TRUE(l.model);
  for (const auto& p : f.prompts) {
    const std::vector<float> ours = prompt_logits(*l.model, p.ids);
    const double rel = test::rel_max_abs_error(ours, p.logits);
    const double cosine = test::cosine_similarity(ours, p.logits);
    std::printf("[%s %s] prompt %zu tokens: bf16 rel max-abs error %.2e, cosine %.7f\n",
                golden_backend_name(), f.name.c_str(), p.ids.size(), rel, cosine);
    EXPECT_LE(rel, kBf16RelError) << f.name << " prompt of " << p.ids.size();
    EXPECT_GE(cosine, kBf16Cosine) << f.name << " prompt of " << p.ids.size();
  }
}

// Processing a prompt in chunks through the KV cache gives the logits of processing it at once: the path
// that prefill over a cached prefix and chunked prefill rely on.
TEST_P(GoldenTest, ChunkedPrefillMatchesWholePrompt) {
  const GoldenFixture f = test::load_golden(GetParam());
  Loaded l = load(f, DType::kF32);
  ASSERT_TRUE(l.model);
  const auto& ids = f.prompts.back().ids;
  Executor executor(l.model->backend());
  auto cache = KvCache::create(l.model->backend(), l.model->config(), 128, l.model->kv_dtype()).value();
  std::vector<float> last;
  for (size_t begin = 0; begin < ids.size(); begin += 9) {
    const size_t end = std::min(ids.size(), begin + 9);
    auto logits =
        l.model->forward(executor, cache, std::span<const int32_t>(ids.data() + begin, end - begin));
    ASSERT_TRUE(logits.has_value()) << logits.status().to_string();
    last = host_logits(*l.model, *logits);
  }
  EXPECT_LE(test::rel_max_abs_error(last, f.prompts.back().logits), kF32RelError);
}

INSTANTIATE_TEST_SUITE_P(Architectures, GoldenTest, ::testing::ValuesIn(test::golden_fixture_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace autoglm

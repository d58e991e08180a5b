// Models from GGUF files through the same architecture code as HF checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "backend/backend.h"
#include "gguf/gguf_file.h"
#include "graph/executor.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SentencePiece pieces to text, independently of the tokenizer module: "▁" is a space, <0xHH> a byte, and
// the space the first piece starts with is dropped (as SentencePiece decoding does).
std::string join_pieces(const std::vector<std::string>& vocab, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    const std::string& p = vocab[static_cast<size_t>(id)];
    if (p.size() == 6 && p.rfind("<0x", 0) == 0) {
      out += static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16));
      continue;
    }
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, 3, "\xe2\x96\x81") == 0) {
        out += ' ';
        i += 3;
      } else {
        out += p[i++];
      }
    }
  }
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

// llama2.c's reference run: greedy from BOS with steps = 200. Its loop runs one forward per position
// 0..199 and prints the token each one samples, so the text is 200 generated tokens (with 199 the final
// " she" is missing).
TEST(GgufModels, Stories260KGreedyMatchesLlama2c) {
  const std::string dir = test::shared_data_dir() + "/models/stories260K/";
  auto backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  auto model = Model::load(dir + "stories260K.gguf", *backend);
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  EXPECT_EQ((*model)->config().architecture, "LlamaForCausalLM");
  EXPECT_EQ((*model)->config().num_key_value_heads, 4);

  Executor executor(*backend);
  auto cache = KvCache::create(*backend, (*model)->config(), 256).value();
  std::vector<int32_t> generated;
  int32_t next = 1;  // BOS
  for (int i = 0; i < 200; ++i) {
    auto logits = (*model)->forward(executor, cache, std::span<const int32_t>(&next, 1));
    ASSERT_TRUE(logits.has_value()) << logits.status().to_string();
    const float* row = logits->as<float>();
    next = static_cast<int32_t>(std::max_element(row, row + logits->shape[1]) - row);
    generated.push_back(next);
  }
  auto gguf = GgufFile::open(dir + "stories260K.gguf").value();
  const auto& vocab = gguf->get_array("tokenizer.ggml.tokens")->strings;
  EXPECT_EQ(join_pieces(vocab, generated), read_text(dir + "expected_greedy_t0_n200.txt"));
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

std::string gguf_fixture(const std::string& name) {
  return std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/gguf/" + name + ".gguf";
}

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

Loaded load_model(const std::string& path) {
  Loaded l;
  l.backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  auto model = Model::load(path, *l.backend);
  EXPECT_TRUE(model.has_value()) << path << ": " << model.status().to_string();
  if (model) l.model = std::move(*model);
  return l;
}

std::vector<float> last_logits(Model& model, const std::vector<int32_t>& ids) {
  Executor executor(model.backend());
  auto cache = KvCache::create(model.backend(), model.config(), 128).value();
  auto logits = model.forward(executor, cache, ids);
  EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
  return logits ? test::to_f32(*logits) : std::vector<float>{};
}

// KL(p || q) of the softmax distributions of two logit rows, in nats.
double kl_divergence(const std::vector<float>& p_logits, const std::vector<float>& q_logits) {
  auto log_softmax = [](const std::vector<float>& x) {
    const double m = *std::max_element(x.begin(), x.end());
    double s = 0;
    for (float v : x)
      s += std::exp(v - m);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      out[i] = x[i] - m - std::log(s);
    return out;
  };
  const auto lp = log_softmax(p_logits), lq = log_softmax(q_logits);
  double kl = 0;
  for (size_t i = 0; i < lp.size(); ++i)
    kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

size_t argmax(const std::vector<float>& x) {
  return std::max_element(x.begin(), x.end()) - x.begin();
}

// The GGUF path (names, q/k row permutation, rope_freqs, GLM-4's fused ffn_up, Qwen3's q/k norms) computes
// what the safetensors path computes for the same F32 weights.
TEST(GgufModels, F32FilesMatchSafetensors) {
  for (const char* name : {"llama", "llama3", "qwen3", "glm4"}) {
    const auto golden = test::load_golden(name);
    Loaded gguf = load_model(gguf_fixture(std::string(name) + "-f32"));
    Loaded st = load_model(golden.dir);
    ASSERT_TRUE(gguf.model && st.model);
    for (const auto& p : golden.prompts) {
      const auto a = last_logits(*gguf.model, p.ids), b = last_logits(*st.model, p.ids);
      const double rel = test::rel_max_abs_error(a, b);
      EXPECT_LE(rel, 1e-5) << name << " prompt of " << p.ids.size();
      EXPECT_LE(test::rel_max_abs_error(a, p.logits), 1e-4) << name << " against HF";
    }
  }
}

// F16 weights: rounding of 2^-11 relative per weight, 8x finer than bf16; the bf16 reasoning of
// test_golden.cpp scaled by 1/8 gives ~1e-3, bounded at 4e-3.
TEST(GgufModels, F16FileWithinF16Rounding) {
  const auto golden = test::load_golden("llama");
  Loaded gguf = load_model(gguf_fixture("llama-f16"));
  ASSERT_TRUE(gguf.model);
  for (const auto& p : golden.prompts) {
    const double rel = test::rel_max_abs_error(last_logits(*gguf.model, p.ids), p.logits);
    std::printf("[llama-f16] prompt %zu tokens: rel max-abs error vs HF f32 %.2e\n", p.ids.size(), rel);
    EXPECT_LE(rel, 4e-3);
  }
}

struct QuantReport {
  int agree = 0, total = 0;
  double max_kl = 0, mean_kl = 0;
};

QuantReport compare(Model& quant, Model& reference, const std::vector<std::vector<int32_t>>& prompts) {
  QuantReport r;
  for (const auto& ids : prompts) {
    const auto q = last_logits(quant, ids), f = last_logits(reference, ids);
    if (q.empty() || q.size() != f.size()) {
      ADD_FAILURE() << "no logits";
      continue;
    }
    r.agree += argmax(q) == argmax(f);
    ++r.total;
    const double kl = kl_divergence(f, q);
    r.max_kl = std::max(r.max_kl, kl);
    r.mean_kl += kl / static_cast<double>(prompts.size());
  }
  return r;
}

// Q8_0 keeps 8 bits per weight (per-32 f16 scale; rounding rms ~0.2% of each block's largest weight) and the
// decode path rounds activations to int8 the same way: logits move by ~1% of their range. The fixtures' top-1
// must not move; the KL to the F32 model, measured 5e-4 to 1.2e-2 nats (qwen2's logits are the most peaked),
// is bounded at 0.05 nats.
TEST(GgufModels, Q8_0AgreesWithF32) {
  for (const char* name : {"llama", "qwen2", "qwen3", "glm4"}) {
    const auto golden = test::load_golden(name);
    Loaded q = load_model(gguf_fixture(std::string(name) + "-q8_0"));
    Loaded f = load_model(golden.dir);
    ASSERT_TRUE(q.model && f.model);
    std::vector<std::vector<int32_t>> prompts;
    for (const auto& p : golden.prompts)
      prompts.push_back(p.ids);
    const QuantReport r = compare(*q.model, *f.model, prompts);
    std::printf("[%s-q8_0] top-1 agreement %d/%d, KL to f32: mean %.2e max %.2e nats\n", name, r.agree,
                r.total, r.mean_kl, r.max_kl);
    EXPECT_EQ(r.agree, r.total) << name;
    EXPECT_LE(r.max_kl, 0.05) << name;
  }
}

// Q4_K (4.5 bits per weight) on the model with 256-element rows, against its F16 copy over 24 random
// prompts. 16 levels per 32 weights leave a rounding rms of ~9% of a random weight's spread, so on random
// (incompressible) weights the logits move by ~10% and top-1 flips where the F16 margin is small: measured
// 16/24 agreement and a mean KL of 0.10 nats. Bounds: >= 14/24 and <= 0.2 nats, far from what a layout error
// gives (chance agreement ~1/256, KL of several nats).
TEST(GgufModels, Q4_KAgreesWithF16) {
  Loaded q = load_model(gguf_fixture("q4k-q4_k"));
  Loaded f = load_model(gguf_fixture("q4k-f16"));
  ASSERT_TRUE(q.model && f.model);
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 24; ++i) {
    std::vector<int32_t> ids(1 + rng() % 40);
    for (auto& id : ids)
      id = static_cast<int32_t>(3 + rng() % 250);
    prompts.push_back(ids);
  }
  const QuantReport r = compare(*q.model, *f.model, prompts);
  std::printf("[q4k] top-1 agreement %d/%d, KL to f16: mean %.2e max %.2e nats\n", r.agree, r.total,
              r.mean_kl, r.max_kl);
  EXPECT_GE(r.agree, 14);
  EXPECT_LE(r.mean_kl, 0.2);
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// The quantized kernels compute what f32 kernels compute on the dequantized weights, up to the int8
// rounding of the activations that the decode path applies per 32-element block (<= 1/254 of each block's
// largest |x|), which compounds over the layers to ~1% of the logit range (measured 5e-3 to 2e-2).
TEST(GgufModels, QuantizedKernelsMatchDequantizedWeights) {
  for (const char* name : {"llama-q8_0", "qwen3-q8_0", "glm4-q8_0", "q4k-q4_k"}) {
    Loaded q = load_model(gguf_fixture(name));
    Loaded f;
    f.backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
    ModelLoadOptions as_f32;
    as_f32.weight_dtype = DType::kF32;
    auto model = Model::load(gguf_fixture(name), *f.backend, as_f32);
    ASSERT_TRUE(model.has_value()) << model.status().to_string();
    for (const std::vector<int32_t>& ids :
         {std::vector<int32_t>{7}, std::vector<int32_t>{9, 14, 3, 200, 51}}) {
      const auto a = last_logits(*q.model, ids), b = last_logits(**model, ids);
      const double rel = test::rel_max_abs_error(a, b);
      std::printf("[%s] quantized kernels vs dequantized f32, %zu tokens: rel max-abs %.2e\n", name,
                  ids.size(), rel);
      EXPECT_LE(rel, 3e-2) << name;
    }
  }
}

}  // namespace
}  // namespace autoglm

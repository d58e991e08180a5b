// Models from GGUF files through the same architecture code as HF checkpoints.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "backend/backend.h"
#include "gguf/gguf_file.h"
#include "graph/executor.h"
#include "model/model.h"
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

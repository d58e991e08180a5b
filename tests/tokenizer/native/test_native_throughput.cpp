// Encode throughput on one thread over the tokenizer corpus, for comparison with the Python references on the
// same texts (tiktoken for Llama 3 / cl100k, sentencepiece for Llama 2). Not a unit test: run it with
//   test_tokenizer_native --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// Two shapes: every corpus text encoded on its own (as a server does), and the whole corpus as one text.
// The first pass fills the word caches; the reported figure is the best of the following passes.
#include <gtest/gtest.h>

#include <chrono>

#include "native_test_data.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void measure(const std::string& name, const Tokenizer& tok) {
  std::vector<std::string> texts;
  std::string joined;
  for (const test::CorpusCase& c : test::load_corpus_expectations("llama3")) {
    texts.push_back(utf8::sanitize(c.text));
    joined += texts.back();
    joined += '\n';
  }
  ASSERT_FALSE(texts.empty());
  const EncodeOptions options{.add_special_tokens = false, .parse_special = true};
  constexpr int kPasses = 6;
  double cold_each = 0;
  double best_each = 1e9;
  double best_joined = 1e9;
  size_t ids = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    auto start = std::chrono::steady_clock::now();
    for (const std::string& t : texts)
      ids += tok.encode(t, options).size();
    const double each = seconds_since(start);
    if (pass == 0) cold_each = each;
    if (pass > 0) best_each = std::min(best_each, each);
    start = std::chrono::steady_clock::now();
    ids += tok.encode(joined, options).size();
    if (pass > 0) best_joined = std::min(best_joined, seconds_since(start));
  }
  const double mb = static_cast<double>(joined.size()) / 1e6;
  std::printf(
      "[throughput] %s: %zu texts, %.3f MB: per text %.1f MB/s (first pass, empty word cache: %.1f), "
      "joined %.1f MB/s (%zu ids)\n",
      name.c_str(), texts.size(), mb, mb / best_each, mb / cold_each, mb / best_joined, ids / kPasses / 2);
}

TEST(NativeThroughput, DISABLED_EncodeCorpus) {
  auto llama3 = load_tiktoken(test::shared_tokenizer_path("llama3/tokenizer.model"));
  ASSERT_TRUE(llama3.has_value()) << llama3.status().to_string();
  measure("llama3 tiktoken", **llama3);
  auto cl100k = load_tiktoken(test::shared_tokenizer_path("cl100k/cl100k_base.tiktoken"));
  ASSERT_TRUE(cl100k.has_value()) << cl100k.status().to_string();
  measure("cl100k tiktoken", **cl100k);
  auto llama2 = load_sentencepiece_model(test::shared_tokenizer_path("llama2/tokenizer.model"));
  ASSERT_TRUE(llama2.has_value()) << llama2.status().to_string();
  measure("llama2 sentencepiece", **llama2);
}

}  // namespace
}  // namespace autoglm

// tiktoken rank files (Llama 3, cl100k_base) against the tiktoken package: llama.cpp's llama-bpe vectors
// (HF's Llama 3 tokenizer, add_special=false) and the corpus expectations, encode and decode.
#include <gtest/gtest.h>

#include "native_test_data.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using test::CorpusCase;

const Tokenizer& llama3() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = load_tiktoken(test::shared_tokenizer_path("llama3/tokenizer.model"));
    EXPECT_TRUE(r.has_value()) << r.status().to_string();
    return r.has_value() ? std::move(r).value() : nullptr;
  }();
  return *t;
}

const Tokenizer& cl100k() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = load_tiktoken(test::shared_tokenizer_path("cl100k/cl100k_base.tiktoken"));
    EXPECT_TRUE(r.has_value()) << r.status().to_string();
    return r.has_value() ? std::move(r).value() : nullptr;
  }();
  return *t;
}

// Every field of the expectation file: a, t, n, d, ds; and the lossless round trip.
void check_corpus(const Tokenizer& tok, const std::string& name) {
  const std::vector<CorpusCase> cases = test::load_corpus_expectations(name);
  if (cases.empty()) GTEST_SKIP() << "no corpus expectations for " << name;
  size_t bad = 0;
  size_t decodes = 0;
  auto report = [&](const CorpusCase& c, const char* field, const std::string& expected,
                    const std::string& actual) {
    if (++bad <= 8) {
      ADD_FAILURE() << name << " [" << c.kind << "] " << field << ": \"" << test::escape_text(c.text)
                    << "\"\n  expected: " << expected << "\n  actual:   " << actual;
    }
  };
  for (const CorpusCase& c : cases) {
    const auto a = tok.encode(c.text, {.add_special_tokens = false, .parse_special = true});
    if (a != c.plain) report(c, "a", test::ids_to_string(c.plain), test::ids_to_string(a));
    const auto t = tok.encode(c.text, {.add_special_tokens = true, .parse_special = true});
    if (t != c.with_template) report(c, "t", test::ids_to_string(c.with_template), test::ids_to_string(t));
    const auto n = tok.encode(c.text, {.add_special_tokens = false, .parse_special = false});
    if (n != c.no_parse) report(c, "n", test::ids_to_string(c.no_parse), test::ids_to_string(n));
    if (c.decoded) {
      ++decodes;
      const std::string d = tok.decode(c.plain);
      if (d != *c.decoded) report(c, "d", test::escape_text(*c.decoded), test::escape_text(d));
    }
    if (c.decoded_skip) {
      const std::string ds = tok.decode(c.plain, {.skip_special_tokens = true});
      if (ds != *c.decoded_skip) report(c, "ds", test::escape_text(*c.decoded_skip), test::escape_text(ds));
    }
    // Byte-level BPE is lossless on (sanitized) text.
    const std::string round = tok.decode(n);
    if (round != utf8::sanitize(c.text))
      report(c, "round trip", test::escape_text(c.text), test::escape_text(round));
  }
  EXPECT_EQ(bad, 0u) << name << ": " << cases.size() << " texts, " << decodes << " decodes";
  std::printf("[corpus] %s: %zu texts x (a, t, n, round trip) + %zu decodes, %zu mismatches\n", name.c_str(),
              cases.size(), decodes, bad);
}

TEST(Tiktoken, Llama3EqualsLlamaBpeVectors) {
  const auto vectors = test::load_vocab_vectors("llama-bpe");
  ASSERT_GT(vectors.size(), 30u);
  EXPECT_EQ(
      test::count_encode_mismatches(llama3(), vectors, {.add_special_tokens = false}, "llama3 tiktoken"), 0u);
  std::printf("[vectors] llama-bpe via tiktoken llama3: %zu texts\n", vectors.size());
}

TEST(Tiktoken, Llama3Corpus) {
  check_corpus(llama3(), "llama3");
}
TEST(Tiktoken, Cl100kCorpus) {
  check_corpus(cl100k(), "cl100k");
}

TEST(Tiktoken, Llama3SpecialTokens) {
  const Tokenizer& t = llama3();
  EXPECT_EQ(t.vocab_size(), 128256);
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_id(), 128001);
  EXPECT_EQ(t.piece_to_id("<|begin_of_text|>"), 128000);
  EXPECT_EQ(t.piece_to_id("<|start_header_id|>"), 128006);
  EXPECT_EQ(t.piece_to_id("<|end_header_id|>"), 128007);
  EXPECT_EQ(t.piece_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(t.piece_to_id("<|reserved_special_token_5|>"), 128010);
  EXPECT_EQ(t.piece_to_id("<|reserved_special_token_250|>"), 128255);
  EXPECT_TRUE(t.is_special(128009));
  EXPECT_FALSE(t.is_special(42));
  EXPECT_EQ(t.id_to_piece(128009), "<|eot_id|>");
  EXPECT_EQ(t.piece_to_id("Ġthe"), 279);
  EXPECT_EQ(t.id_to_piece(279), "Ġthe");
  EXPECT_EQ(t.id_to_piece(-1), "");
  EXPECT_EQ(t.id_to_piece(1 << 30), "");
  EXPECT_EQ(t.encode("<|eot_id|>hi", {.add_special_tokens = true}),
            (std::vector<int32_t>{128000, 128009, 6151}));
  EXPECT_EQ(t.decode(std::vector<int32_t>{128000, 6151, 128009}), "<|begin_of_text|>hi<|eot_id|>");
  EXPECT_EQ(t.decode(std::vector<int32_t>{128000, 6151, 128009}, {.skip_special_tokens = true}), "hi");
  EXPECT_EQ(t.decode(std::vector<int32_t>{-5, 6151, 999999}), "hi");
}

TEST(Tiktoken, Cl100kSpecialTokens) {
  const Tokenizer& t = cl100k();
  EXPECT_EQ(t.vocab_size(), 100277);
  EXPECT_EQ(t.bos_id(), std::nullopt);
  EXPECT_EQ(t.eos_id(), 100257);
  EXPECT_EQ(t.piece_to_id("<|endofprompt|>"), 100276);
  EXPECT_EQ(t.piece_to_id("<|fim_suffix|>"), 100260);
  EXPECT_FALSE(t.is_special(100261));  // a gap between the special ids
  EXPECT_EQ(t.id_to_piece(100261), "");
  EXPECT_EQ(t.encode("hello world", {.add_special_tokens = true}), (std::vector<int32_t>{15339, 1917}));
  EXPECT_EQ(t.encode("<|endoftext|>", {.parse_special = false}).size(), 7u);
}

TEST(Tiktoken, LongRunsAreFast) {
  // tiktoken's quadratic merge would take seconds on these; the heap keeps them linearithmic.
  const std::string spaces(200000, ' ');
  const std::string letters(200000, 'a');
  std::string digits;
  for (int i = 0; i < 50000; ++i)
    digits += std::to_string(i % 10);
  for (const std::string* s : std::vector<const std::string*>{&spaces, &letters, &digits}) {
    const auto ids = llama3().encode(*s, {.add_special_tokens = false});
    EXPECT_EQ(llama3().decode(ids), *s);
  }
}

}  // namespace
}  // namespace autoglm

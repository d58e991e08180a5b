// SentencePiece .model files against the sentencepiece package: llama2/tokenizer.model (BPE, byte fallback)
// on llama.cpp's llama-spm vectors and the corpus expectations, and small trained models
// (tools/tokenizer/make_gguf_vocabs.py) covering Unigram, the NFKC charsmap, whitespace handling,
// user-defined and control symbols, whitespace as suffix and the CHAR model.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "native_test_data.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using test::CorpusCase;

const Tokenizer& llama2() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = load_sentencepiece_model(test::shared_tokenizer_path("llama2/tokenizer.model"));
    EXPECT_TRUE(r.has_value()) << r.status().to_string();
    return r.has_value() ? std::move(r).value() : nullptr;
  }();
  return *t;
}

TEST(SentencePiece, Llama2EqualsLlamaSpmVectors) {
  const auto vectors = test::load_vocab_vectors("llama-spm");
  ASSERT_GT(vectors.size(), 30u);
  EXPECT_EQ(
      test::count_encode_mismatches(llama2(), vectors, {.add_special_tokens = false}, "llama2 sentencepiece"),
      0u);
  std::printf("[vectors] llama-spm via sentencepiece llama2: %zu texts\n", vectors.size());
}

TEST(SentencePiece, Llama2Corpus) {
  const std::vector<CorpusCase> cases = test::load_corpus_expectations("llama2_sentencepiece");
  if (cases.empty()) GTEST_SKIP() << "no corpus expectations";
  const Tokenizer& tok = llama2();
  size_t bad = 0;
  size_t decodes = 0;
  auto report = [&](const CorpusCase& c, const char* field, const std::string& expected,
                    const std::string& actual) {
    if (++bad <= 8) {
      ADD_FAILURE() << "[" << c.kind << "] " << field << ": \"" << test::escape_text(c.text)
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
    // Llama 2's normalizer is the identity with a dummy prefix and no whitespace removal: lossless.
    const std::string round = tok.decode(t, {.skip_special_tokens = true});
    if (round != utf8::sanitize(c.text))
      report(c, "round trip", test::escape_text(c.text), test::escape_text(round));
  }
  EXPECT_EQ(bad, 0u);
  std::printf(
      "[corpus] llama2_sentencepiece: %zu texts x (a, t, n, round trip) + %zu decodes, %zu mismatches\n",
      cases.size(), decodes, bad);
}

TEST(SentencePiece, Llama2SpecialsAndDecode) {
  const Tokenizer& t = llama2();
  EXPECT_EQ(t.vocab_size(), 32000);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_TRUE(t.is_special(0));
  EXPECT_TRUE(t.is_special(1));
  EXPECT_FALSE(t.is_special(3));
  EXPECT_EQ(t.id_to_piece(13), "<0x0A>");
  EXPECT_EQ(t.piece_to_id("▁x"), 921);
  EXPECT_EQ(t.encode("Hello", {.add_special_tokens = true}), (std::vector<int32_t>{1, 15043}));
  // Control pieces in the text are plain text for SentencePiece.
  EXPECT_EQ(t.encode("<s>", {.add_special_tokens = false}),
            t.encode("<s>", {.add_special_tokens = false, .parse_special = false}));
  EXPECT_NE(t.encode("<s>", {.add_special_tokens = false}), (std::vector<int32_t>{1}));
  // The dummy-prefix space of the first non-control piece is dropped, as SentencePiece does.
  EXPECT_EQ(t.decode(std::vector<int32_t>{29871, 921}), " x");
  EXPECT_EQ(t.decode(std::vector<int32_t>{1, 921}, {.skip_special_tokens = true}), "x");
  EXPECT_EQ(t.decode(std::vector<int32_t>{1, 921}), "<s> x");
  EXPECT_EQ(t.decode(std::vector<int32_t>{13, 921}), "\n x");
  EXPECT_EQ(t.decode(std::vector<int32_t>{0, 921}), " \xE2\x81\x87  x");
  EXPECT_EQ(t.decode(std::vector<int32_t>{921, 0, 921}, {.skip_special_tokens = true}), "x x");
  // Byte pieces may split a character: decode returns the bytes.
  const auto ids = t.encode("\xF0\x9F\xA6\x99", {.add_special_tokens = false});
  ASSERT_EQ(ids.size(), 5u);  // "▁" and four byte pieces
  EXPECT_EQ(t.decode(std::span<const int32_t>(ids).subspan(0, 3)), "\xF0\x9F");
  EXPECT_EQ(t.decode(ids), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(t.decode(std::vector<int32_t>{-1, 40000}), "");
}

// Small trained models (tests/data/tokenizer/gguf/spm, tools/tokenizer/make_gguf_vocabs.py --spm):
// sentencepiece's encode of a sample of the corpus plus texts for their features, and its decode on every 5th
// line.
class SentencePieceTrained : public ::testing::TestWithParam<std::string> {};

TEST_P(SentencePieceTrained, EqualsReference) {
  const std::string dir = test::tokenizer_data_path("gguf/spm/");
  auto loaded = load_sentencepiece_model(dir + GetParam() + ".model");
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  const Tokenizer& tok = **loaded;
  std::vector<std::string> corpus;
  {
    std::ifstream in(test::tokenizer_data_path("corpus.jsonl"));
    std::string line;
    while (std::getline(in, line))
      corpus.push_back(test::hex_decode(nlohmann::json::parse(line)["hex"].get<std::string>()));
  }
  std::ifstream expected(dir + GetParam() + ".expected.jsonl");
  ASSERT_TRUE(expected && !corpus.empty());
  std::string line;
  std::getline(expected, line);  // header
  size_t texts = 0;
  size_t decodes = 0;
  size_t bad = 0;
  while (std::getline(expected, line)) {
    const auto e = nlohmann::json::parse(line);
    std::string text;
    if (e.contains("i")) {
      const auto i = e["i"].get<size_t>();
      ASSERT_LT(i, corpus.size());
      text = corpus[i];
    } else {
      text = test::hex_decode(e["hex"].get<std::string>());
    }
    const auto want = e["ids"].get<std::vector<int32_t>>();
    const auto got = tok.encode(text, {.add_special_tokens = false});
    ++texts;
    if (got != want && ++bad <= 8) {
      ADD_FAILURE() << GetParam() << ": \"" << test::escape_text(text)
                    << "\"\n  expected: " << test::ids_to_string(want)
                    << "\n  actual:   " << test::ids_to_string(got);
    }
    if (e.contains("d")) {
      ++decodes;
      const std::string d = tok.decode(want);
      if (d != e["d"].get<std::string>() && ++bad <= 8) {
        ADD_FAILURE() << GetParam() << " decode: \"" << test::escape_text(text) << "\"\n  expected: \""
                      << test::escape_text(e["d"].get<std::string>()) << "\"\n  actual:   \""
                      << test::escape_text(d) << "\"";
      }
    }
  }
  EXPECT_EQ(bad, 0u);
  std::printf("[spm] %s (%s): %zu texts, %zu decodes, %zu mismatches\n", GetParam().c_str(),
              tok.describe().c_str(), texts, decodes, bad);
}

INSTANTIATE_TEST_SUITE_P(Models, SentencePieceTrained,
                         ::testing::Values("unigram_nfkc", "bpe_bytes", "unigram_suffix_bytes",
                                           "bpe_identity", "char"));

}  // namespace
}  // namespace autoglm

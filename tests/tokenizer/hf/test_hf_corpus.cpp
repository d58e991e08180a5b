// Every HF tokenizer we ship against the reference ids and decodes of tools/tokenizer/make_expectations.py
// on every line of the tokenizer corpus: add_special_tokens off and on, special tokens parsed and not, decode
// with and without skip_special_tokens, and decode(encode(x)) == x where the tokenizer is lossless.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "hf_test_data.h"
#include "tokenizer/hf/unicode.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using test::ids_to_string;

struct Case {
  std::string name;  // expectations file
  std::function<Expected<std::unique_ptr<Tokenizer>>()> load;
  enum class Lossless { kNo, kExact, kNfc } lossless;
};

std::vector<Case> cases() {
  auto json = [](const char* dir) {
    return [dir] { return load_hf_tokenizer_json(test::shared_tokenizer_dir(dir) + "/tokenizer.json"); };
  };
  auto vm = [](const char* dir) {
    return [dir] { return load_hf_vocab_merges(test::shared_tokenizer_dir(dir)); };
  };
  return {
      {"llama2", json("llama2"), Case::Lossless::kNo}, {"chatglm3", json("chatglm3"), Case::Lossless::kNo},
      {"phi3", json("phi3"), Case::Lossless::kNo},     {"minilm", json("minilm"), Case::Lossless::kNo},
      {"qwen2", vm("qwen2"), Case::Lossless::kNfc},    {"gpt2", vm("gpt2"), Case::Lossless::kExact},
  };
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

std::vector<Case> lossless_cases() {
  std::vector<Case> out;
  for (Case& c : cases()) {
    if (c.lossless != Case::Lossless::kNo) out.push_back(std::move(c));
  }
  return out;
}

class HfCorpusTest : public ::testing::TestWithParam<Case> {};
class HfLosslessTest : public ::testing::TestWithParam<Case> {};

constexpr int kMaxReported = 8;

TEST_P(HfCorpusTest, IdsAndDecodesMatchReference) {
  const Case& c = GetParam();
  auto loaded = c.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  const Tokenizer& tok = **loaded;
  const auto& corpus = test::tokenizer_corpus();
  const test::Expectations exp = test::load_expectations(c.name);
  ASSERT_EQ(exp.lines.size(), corpus.size()) << "expectations out of date with the corpus";

  int failures = 0;
  auto check = [&](bool ok, size_t line, const char* what, const std::string& detail) {
    if (ok) return;
    if (++failures <= kMaxReported) {
      ADD_FAILURE() << c.name << " line " << line << " [" << corpus[line].kind << "] " << what << ": \""
                    << test::escape_bytes(corpus[line].bytes) << "\"\n"
                    << detail;
    }
  };
  for (size_t i = 0; i < corpus.size(); ++i) {
    const std::string& text = corpus[i].bytes;
    const test::ExpectedLine& e = exp.lines[i];
    const auto ids = tok.encode(text, {.add_special_tokens = false, .parse_special = true});
    check(ids == e.ids, i, "ids", "ours " + ids_to_string(ids) + "\nref  " + ids_to_string(e.ids));
    const auto with = tok.encode(text, {.add_special_tokens = true, .parse_special = true});
    check(with == e.ids_with_special, i, "ids with special",
          "ours " + ids_to_string(with) + "\nref  " + ids_to_string(e.ids_with_special));
    const auto plain = tok.encode(text, {.add_special_tokens = false, .parse_special = false});
    check(plain == e.ids_no_parse_special, i, "ids without parsing special",
          "ours " + ids_to_string(plain) + "\nref  " + ids_to_string(e.ids_no_parse_special));
    // HF's decode returns text: compare after replacing ill-formed bytes, which only appear when ids cut a
    // character (never for the ids of an encoded text).
    if (e.decoded) {
      const std::string d = sanitize_utf8(tok.decode(e.ids, {.skip_special_tokens = false}));
      check(d == *e.decoded, i, "decode",
            "ours \"" + test::escape_bytes(d) + "\"\nref  \"" + test::escape_bytes(*e.decoded) + "\"");
    }
    if (e.decoded_skip_special) {
      const std::string d = sanitize_utf8(tok.decode(e.ids, {.skip_special_tokens = true}));
      check(d == *e.decoded_skip_special, i, "decode skipping special",
            "ours \"" + test::escape_bytes(d) + "\"\nref  \"" + test::escape_bytes(*e.decoded_skip_special) +
                "\"");
    }
  }
  EXPECT_EQ(failures, 0) << c.name << ": " << failures << " mismatches over " << corpus.size() << " lines ("
                         << exp.reference << ")";
}

// Byte-level BPE loses nothing (Qwen2 after its NFC normalizer); the SentencePiece-style and WordPiece
// pipelines do not promise it (stripped prefix spaces, lowercasing), as in HF.
TEST_P(HfLosslessTest, DecodeInvertsEncode) {
  const Case& c = GetParam();
  auto loaded = c.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  const Tokenizer& tok = **loaded;
  int failures = 0;
  for (const auto& t : test::tokenizer_corpus()) {
    const std::string text = sanitize_utf8(t.bytes);
    const std::string expected = c.lossless == Case::Lossless::kNfc
                                     ? hf::unicode::normalize(text, hf::unicode::NormalizationForm::kNfc)
                                     : text;
    const std::string back =
        tok.decode(tok.encode(text, {.add_special_tokens = true, .parse_special = true}));
    if (back != expected && ++failures <= kMaxReported) {
      ADD_FAILURE() << c.name << ": \"" << test::escape_bytes(text) << "\" came back as \""
                    << test::escape_bytes(back) << "\"";
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(HfCorpusTest, ParallelEncodesAgree) {
  // Tokenizers are shared between threads: concurrent encodes (and the BPE cache they share) give the same
  // ids as a single thread.
  const Case& c = GetParam();
  auto loaded = c.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  const Tokenizer& tok = **loaded;
  const auto& corpus = test::tokenizer_corpus();
  std::vector<std::vector<int32_t>> serial;
  for (size_t i = 0; i < corpus.size(); i += 7)
    serial.push_back(tok.encode(corpus[i].bytes));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0, i = 0; i < corpus.size(); i += 7, ++k) {
        if (tok.encode(corpus[i].bytes) != serial[k]) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads)
    th.join();
  for (int m : mismatches)
    EXPECT_EQ(m, 0);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, HfCorpusTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Tokenizers, HfLosslessTest, ::testing::ValuesIn(lossless_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace autoglm

// GGUF vocabularies (tokenizer.ggml.*) against llama.cpp: its test vectors (ggml-vocab-*.gguf.inp/.out,
// add_special=false) and, on the tokenizer corpus, the expectations of the same tokenizer's reference (HF,
// tiktoken, sentencepiece) where llama.cpp agrees with it and llama.cpp's own ids where it does not
// (tests/data/tokenizer/gguf/llama_cpp/). The shared ggml-vocab-*.gguf files are damaged, so the vocabularies
// are built in memory from their intact sources (gguf_vocab_builder.cpp); stories260K.gguf is a real file.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "gguf_vocab_builder.h"
#include "native_test_data.h"
#include "support/test_data.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using test::CorpusCase;

struct Loaded {
  std::vector<uint8_t> bytes;
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
};

std::string vocab_origin(const std::string& name) {
  return "ggml-vocab-" + name + ".gguf (built in memory)";
}

// Built once per process and kept: the two large vocabularies take about a second each.
const Loaded& loaded_vocab(const std::string& name) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Loaded loaded;
  auto bytes = test::build_vocab_gguf(name, test::shared_tokenizer_path(""));
  EXPECT_TRUE(bytes.has_value()) << bytes.status().to_string();
  if (bytes.has_value()) {
    loaded.bytes = std::move(bytes).value();
    auto file = GgufFile::parse(
        std::string_view(reinterpret_cast<const char*>(loaded.bytes.data()), loaded.bytes.size()),
        vocab_origin(name));
    EXPECT_TRUE(file.has_value()) << file.status().to_string();
    if (file.has_value()) {
      loaded.file = std::move(file).value();
      auto tok = load_gguf_tokenizer(*loaded.file);
      EXPECT_TRUE(tok.has_value()) << tok.status().to_string();
      if (tok.has_value()) loaded.tokenizer = std::move(tok).value();
    }
  }
  return cache.emplace(name, std::move(loaded)).first->second;
}

std::string test_name(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

class GgufVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVectors, EqualLlamaCppOutputs) {
  const auto vectors = test::load_vocab_vectors(GetParam());
  ASSERT_GT(vectors.size(), 30u);
  const Tokenizer* tok = loaded_vocab(GetParam()).tokenizer.get();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(test::count_encode_mismatches(*tok, vectors, {.add_special_tokens = false}, GetParam()), 0u);
  std::printf("[vectors] %s via gguf (%s): %zu texts\n", GetParam().c_str(), tok->describe().c_str(),
              vectors.size());
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVectors, ::testing::ValuesIn(test::vocab_gguf_names()),
                         [](const auto& info) { return test_name(info.param); });

struct CorpusParam {
  std::string vocab;
  std::string expectations;  // the reference the llama.cpp differences are recorded against
  bool lossless;             // decode(encode(x, parse_special=false)) == x
};

void PrintTo(const CorpusParam& p, std::ostream* os) {
  *os << p.vocab << " vs " << p.expectations;
}

class GgufCorpus : public ::testing::TestWithParam<CorpusParam> {};

TEST_P(GgufCorpus, EqualsLlamaCpp) {
  const CorpusParam& p = GetParam();
  std::vector<CorpusCase> cases = test::load_corpus_expectations(p.expectations);
  ASSERT_FALSE(cases.empty()) << "no corpus expectations " << p.expectations;
  const int overridden = test::apply_llama_cpp_reference(p.vocab, cases);
  ASSERT_GE(overridden, 0) << "no llama.cpp reference for " << p.vocab
                           << " (tools/tokenizer/make_gguf_vocabs.py --llama-cpp)";
  const Tokenizer* tok = loaded_vocab(p.vocab).tokenizer.get();
  ASSERT_NE(tok, nullptr);
  size_t bad = 0;
  size_t round_trips = 0;
  auto report = [&](const CorpusCase& c, const char* field, const std::string& expected,
                    const std::string& actual) {
    if (++bad <= 8) {
      ADD_FAILURE() << p.vocab << " [" << c.kind << "] " << field << ": \"" << test::escape_text(c.text)
                    << "\"\n  expected: " << expected << "\n  actual:   " << actual;
    }
  };
  for (const CorpusCase& c : cases) {
    const auto a = tok->encode(c.text, {.add_special_tokens = false, .parse_special = true});
    if (a != c.plain) report(c, "a", test::ids_to_string(c.plain), test::ids_to_string(a));
    const auto n = tok->encode(c.text, {.add_special_tokens = false, .parse_special = false});
    if (n != c.no_parse) report(c, "n", test::ids_to_string(c.no_parse), test::ids_to_string(n));
    if (!p.lossless) continue;
    ++round_trips;
    const std::string round = tok->decode(n);
    if (round != utf8::sanitize(c.text))
      report(c, "round trip", test::escape_text(c.text), test::escape_text(round));
  }
  EXPECT_EQ(bad, 0u);
  std::printf(
      "[corpus] gguf %s: %zu texts x (a, n) vs %s with %d llama.cpp differences, %zu round trips, %zu "
      "mismatches\n",
      p.vocab.c_str(), cases.size(), p.expectations.c_str(), overridden, round_trips, bad);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufCorpus,
                         ::testing::Values(CorpusParam{"llama-spm", "llama2_sentencepiece", true},
                                           CorpusParam{"phi-3", "phi3", true},
                                           CorpusParam{"gpt-2", "gpt2", true},
                                           CorpusParam{"bert-bge", "minilm", false},
                                           CorpusParam{"qwen2", "qwen2", true},
                                           CorpusParam{"llama-bpe", "llama3", true}),
                         [](const auto& info) { return test_name(info.param.vocab); });

// The files tools/tokenizer/make_gguf_vocabs.py writes (not committed) hold the same tokenizer.ggml.* values.
TEST_P(GgufVectors, BuilderMatchesScriptOutput) {
  const std::string path = test::tokenizer_data_path("gguf/ggml-vocab-" + GetParam() + ".gguf");
  if (!test::file_exists(path))
    GTEST_SKIP() << path
                 << " not written (tools/tokenizer/make_gguf_vocabs.py --vocabs; scripts/test.sh runs it)";
  auto script = GgufFile::open(path);
  ASSERT_TRUE(script.has_value()) << script.status().to_string();
  const GgufFile* built = loaded_vocab(GetParam()).file.get();
  ASSERT_NE(built, nullptr);
  for (const GgufFile* f : std::vector<const GgufFile*>{built, script->get()}) {
    for (const std::string& key : f->keys()) {
      if (key.rfind("tokenizer.", 0) != 0 && key != "general.name") continue;
      const GgufValue* a = built->find(key);
      const GgufValue* b = (*script)->find(key);
      ASSERT_TRUE(a && b) << key << " is in only one of the two files";
      EXPECT_EQ(a->to_string(SIZE_MAX), b->to_string(SIZE_MAX)) << key;
    }
  }
}

// llama2.c's greedy stories260K output through the vocabulary of the real (intact) GGUF file: llama.cpp's
// ids, and decoded back.
TEST(GgufTokenizer, Stories260KRoundTrip) {
  const std::string dir = test::shared_data_dir() + "/models/stories260K/";
  auto file = GgufFile::open(dir + "stories260K.gguf");
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  auto tok = load_gguf_tokenizer(**file);
  ASSERT_TRUE(tok.has_value()) << tok.status().to_string();
  const std::string text = test::read_file_bytes(dir + "expected_greedy_t0_n200.txt");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ((*tok)->vocab_size(), 512);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  const auto ids = (*tok)->encode(text);
  // llama.cpp's ids of the same text (add_special=true), from make_gguf_vocabs.py --llama-cpp.
  const auto reference = nlohmann::json::parse(test::read_file_bytes(
      test::tokenizer_data_path("gguf/llama_cpp/stories260K.json")))["ids"]
                             .get<std::vector<int32_t>>();
  EXPECT_EQ(test::ids_to_string(ids), test::ids_to_string(reference));
  EXPECT_EQ((*tok)->decode(ids, {.skip_special_tokens = true}), text);
  // Every prefix of the first sentence's ids decodes to a prefix of the text (bytes, no clean-up).
  const std::string first_line = text.substr(0, text.find('\n'));
  const auto line_ids = (*tok)->encode(first_line, {.add_special_tokens = false});
  std::string decoded;
  for (size_t k = 1; k <= line_ids.size(); ++k) {
    decoded = (*tok)->decode(std::span<const int32_t>(line_ids).subspan(0, k));
    EXPECT_EQ(first_line.compare(0, decoded.size(), decoded), 0) << decoded;
  }
  EXPECT_EQ(decoded, first_line);
  std::printf("[stories260K] %s: %zu bytes -> %zu ids, decoded back\n", (*tok)->describe().c_str(),
              text.size(), ids.size());
}

TEST(GgufTokenizer, SpecialTokensAndOptions) {
  const Tokenizer* spm = loaded_vocab("llama-spm").tokenizer.get();
  ASSERT_NE(spm, nullptr);
  EXPECT_EQ(spm->encode("Hello", {.add_special_tokens = true}), (std::vector<int32_t>{1, 15043}));
  // llama.cpp parses control tokens with parse_special and prefixes a space to the text after them.
  EXPECT_EQ(spm->encode("<s>Hi", {.add_special_tokens = false}), (std::vector<int32_t>{1, 6324}));
  EXPECT_EQ(spm->encode("<s>Hi", {.add_special_tokens = false, .parse_special = false}),
            (std::vector<int32_t>{529, 29879, 29958, 18567}));
  // Control text is printed as it is; only the space prefixed to the very first piece is dropped.
  EXPECT_EQ(spm->decode(std::vector<int32_t>{1, 15043}), "<s> Hello");
  EXPECT_EQ(spm->decode(std::vector<int32_t>{1, 15043}, {.skip_special_tokens = true}), "Hello");
  EXPECT_TRUE(spm->is_special(1));
  EXPECT_FALSE(spm->is_special(15043));
  EXPECT_EQ(spm->id_to_piece(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(spm->piece_to_id("<0x0A>"), 13);

  const Tokenizer* bpe = loaded_vocab("llama-bpe").tokenizer.get();
  ASSERT_NE(bpe, nullptr);
  EXPECT_EQ(bpe->encode("<|eot_id|>hi", {.add_special_tokens = true}),
            (std::vector<int32_t>{128000, 128009, 6151}));
  EXPECT_EQ(bpe->decode(std::vector<int32_t>{128000, 6151, 128009}, {.skip_special_tokens = true}), "hi");
  EXPECT_EQ(bpe->eos_id(), 128001);

  const Tokenizer* bert = loaded_vocab("bert-bge").tokenizer.get();
  ASSERT_NE(bert, nullptr);
  // [CLS] ... [SEP] from add_bos_token / add_sep_token.
  const auto ids = bert->encode("Hello world!");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
}

}  // namespace
}  // namespace autoglm

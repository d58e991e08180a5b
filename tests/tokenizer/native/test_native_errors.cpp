// Malformed tiktoken files, SentencePiece models and GGUF vocabularies: each gives a Status whose message
// names the file and the problem, never a crash. Also the explicit-spec path of tiktoken on a small rank
// file.
#include <gtest/gtest.h>

#include "gguf/gguf_file.h"
#include "native_test_data.h"
#include "small_vocabs.h"
#include "support/gguf_writer.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"

namespace autoglm {
namespace {

template <typename T>
void expect_error(const Expected<T>& r, const std::string& origin, const std::string& what) {
  ASSERT_FALSE(r.has_value()) << origin << ": expected an error about '" << what << "'";
  const std::string message = r.status().message();
  EXPECT_NE(message.find(origin), std::string::npos) << "the error does not name the file: " << message;
  EXPECT_NE(message.find(what), std::string::npos) << "the error does not say '" << what << "': " << message;
}

TEST(NativeErrors, TiktokenFiles) {
  expect_error(load_tiktoken("/nonexistent/tokenizer.model"), "/nonexistent/tokenizer.model", "cannot open");
  const std::string o = "bad.tiktoken";
  expect_error(parse_tiktoken("", o), o, "no ranks");
  expect_error(parse_tiktoken("IQ== 0 extra\n", o), o, "line 1: expected");
  expect_error(parse_tiktoken("IQ==0\n", o), o, "line 1: expected");
  expect_error(parse_tiktoken("I*== 0\n", o), o, "line 1: invalid base64");
  expect_error(parse_tiktoken("IQ= 0\n", o), o, "invalid base64");
  expect_error(parse_tiktoken("IQ== -1\n", o), o, "invalid rank");
  expect_error(parse_tiktoken("IQ== 99999999999\n", o), o, "invalid rank");
  expect_error(parse_tiktoken("IQ== 123456\n", o), o, "out of range");
  expect_error(parse_tiktoken("IQ== 0\nIg== 0\n", o), o, "line 2: duplicate rank 0");
  expect_error(parse_tiktoken("IQ== 0\nIQ== 1\n", o), o, "line 2: duplicate token");
  expect_error(parse_tiktoken("IQ== 0\n\nIg== 2\n", o), o, "rank 1 is missing");
  expect_error(parse_tiktoken("IQ== 0\n", o), o, "byte 0 has no rank");
  // A well-formed file of an unknown flavour.
  const std::string small = test::small_tiktoken_file(300);
  expect_error(parse_tiktoken(small, o), o, "unrecognised tiktoken file (300 ranks");
}

TEST(NativeErrors, TiktokenSpecs) {
  const std::string small = test::small_tiktoken_file(300);
  const std::string o = "small.tiktoken";
  TiktokenSpec spec = test::small_tiktoken_spec(300);
  spec.special_tokens = {{"<|x|>", 5}};
  expect_error(parse_tiktoken(small, o, spec), o, "a rank of the file");
  spec.special_tokens = {{"<|x|>", 400}, {"<|x|>", 401}};
  expect_error(parse_tiktoken(small, o, spec), o, "listed twice");
  spec.special_tokens = {{"<|x|>", 400}, {"<|y|>", 400}};
  expect_error(parse_tiktoken(small, o, spec), o, "share an id");
  spec.special_tokens = {{"", 400}};
  expect_error(parse_tiktoken(small, o, spec), o, "has no text");
  spec = test::small_tiktoken_spec(300);
  spec.eos = 999;
  expect_error(parse_tiktoken(small, o, spec), o, "BOS/EOS id 999");
  spec = test::small_tiktoken_spec(300);
  spec.pattern = "(unclosed";
  expect_error(parse_tiktoken(small, o, spec), o, "regex");
}

TEST(NativeErrors, TiktokenSmallFileWithSpec) {
  auto tok =
      parse_tiktoken(test::small_tiktoken_file(2000), "small.tiktoken", test::small_tiktoken_spec(2000));
  ASSERT_TRUE(tok.has_value()) << tok.status().to_string();
  EXPECT_EQ((*tok)->vocab_size(), 2002);
  EXPECT_EQ((*tok)->eos_id(), 2000);
  EXPECT_EQ((*tok)->describe(), "tiktoken byte-level bpe (small, 2000 ranks, 2 special)");
  EXPECT_EQ((*tok)->encode("a<|endoftext|>b<|fim_prefix|>"), (std::vector<int32_t>{64, 2000, 65, 2001}));
  EXPECT_TRUE((*tok)->is_special(2001));
  EXPECT_FALSE((*tok)->is_special(1999));
  for (const std::string text :
       {"The quick brown fox", "  spaces\n\n\ttabs", "ünïcödé 日本語 🦙", "<|endoftext|>x"}) {
    const auto ids = (*tok)->encode(text, {.parse_special = false});
    for (int32_t id : ids)
      EXPECT_LT(id, 2000);
    EXPECT_EQ((*tok)->decode(ids), text);
  }
}

TEST(NativeErrors, SentencePieceModels) {
  expect_error(load_sentencepiece_model("/nonexistent/tokenizer.model"), "/nonexistent/tokenizer.model",
               "cannot open");
  const std::string o = "bad.model";
  expect_error(parse_sentencepiece_model("", o), o, "no pieces");
  expect_error(parse_sentencepiece_model("not a protobuf at all", o), o, "malformed SentencePiece model");
  const std::string llama2 = test::read_file_bytes(test::shared_tokenizer_path("llama2/tokenizer.model"));
  ASSERT_GT(llama2.size(), 1000u);
  expect_error(parse_sentencepiece_model(llama2.substr(0, llama2.size() / 2), o), o, "runs past the end");
  expect_error(parse_sentencepiece_model(llama2.substr(0, 1), o), o, "truncated varint");
  // Hand-made models: pieces without UNKNOWN, duplicates, byte pieces without byte_fallback, unknown enums.
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"a", 0, 1}}), o), o, "no UNKNOWN piece");
  expect_error(
      parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"a", 0, 1}, {"a", 0, 1}}), o), o,
      "duplicate piece 'a'");
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"<unk2>", 0, 2}}), o), o,
               "more than one UNKNOWN");
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"<0x41>", 0, 6}}), o), o,
               "byte_fallback is false");
  expect_error(
      parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"<0xZZ>", 0, 6}}, 2, true), o), o,
      "invalid byte piece");
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"a", 0, 9}}), o), o,
               "unknown piece type 9");
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}}, 7), o), o,
               "unknown model_type 7");
  expect_error(parse_sentencepiece_model(test::spm_model_bytes({{"<unk>", 0, 2}, {"", 0, 1}}), o), o,
               "piece 1 is empty");
  expect_error(parse_sentencepiece_model(
                   test::spm_model_bytes({{"<unk>", 0, 2}}, 1, false, std::string("\x10\0\0\0x", 5)), o),
               o, "precompiled_charsmap");
  // A valid hand-made model works.
  auto ok = parse_sentencepiece_model(
      test::spm_model_bytes({{"<unk>", 0, 2}, {"\xE2\x96\x81", -1, 1}, {"a", -2, 1}}), o);
  ASSERT_TRUE(ok.has_value()) << ok.status().to_string();
  EXPECT_EQ((*ok)->encode("a a", {.add_special_tokens = false}), (std::vector<int32_t>{1, 2, 1, 2}));
}

TEST(NativeErrors, GgufVocabularies) {
  const std::string o = "bad-vocab.gguf";
  auto load = [&](const test::GgufWriter& w) -> Expected<std::unique_ptr<Tokenizer>> {
    const std::vector<uint8_t> bytes = w.bytes();
    auto file =
        GgufFile::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), o);
    if (!file.has_value()) return file.status();
    return load_gguf_tokenizer(**file);
  };
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
  auto base = [&](const std::string& model) {
    test::GgufWriter w;
    w.add_string("tokenizer.ggml.model", model);
    return w;
  };
  expect_error(load(test::GgufWriter()), o, "missing tokenizer.ggml.model");
  expect_error(load(base("t5x")), o, "tokenizer.ggml.model 't5x' is not supported");
  expect_error(load(base("llama")), o, "missing tokenizer.ggml.tokens");
  {
    auto w = base("llama");
    w.add_i32_array("tokenizer.ggml.tokens", {1, 2});
    expect_error(load(w), o, "not an array of strings");
  }
  {
    auto w = base("llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_f32_array("tokenizer.ggml.scores", {0, 0});
    expect_error(load(w), o, "tokenizer.ggml.scores has 2 entries for 6 tokens");
  }
  {
    auto w = base("llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_f32_array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1});
    expect_error(load(w), o, "token_type is not an integer array");
  }
  {
    auto w = base("llama");
    w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "a"});
    expect_error(load(w), o, "duplicate token 'a'");
  }
  {
    auto w = base("llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_string("tokenizer.ggml.bos_token_id", "one");
    expect_error(load(w), o, "bos_token_id is not an integer");
  }
  {
    auto w = base("gpt2");
    w.add_string("tokenizer.ggml.pre", "no-such-pre");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    expect_error(load(w), o, "unknown pre-tokenizer type 'no-such-pre'");
  }
  {
    auto w = base("gpt2");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    expect_error(load(w), o, "missing tokenizer.ggml.merges");
  }
  for (const auto& [merge, what] :
       std::vector<std::pair<std::string, std::string>>{{"ab", "is not 'left right'"},
                                                        {"a c", "not in the vocabulary"},
                                                        {"b a", "makes a token that is not"}}) {
    auto w = base("gpt2");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_string_array("tokenizer.ggml.merges", {"a b", merge});
    expect_error(load(w), o, what);
  }
  // A special id outside the vocabulary is ignored, as llama.cpp does (files store -1 as u32 for "none").
  auto w = base("llama");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);
  w.add_u32("tokenizer.ggml.eos_token_id", 1000);
  auto ok = load(w);
  ASSERT_TRUE(ok.has_value()) << ok.status().to_string();
  EXPECT_EQ((*ok)->eos_id(), 2);
}

}  // namespace
}  // namespace autoglm

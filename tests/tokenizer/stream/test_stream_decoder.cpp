// Streaming detokenization on real tokenizers: the pieces released token by token concatenate to the full
// decode, and no piece ends inside a UTF-8 character.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "support/test_data.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

std::vector<std::string> corpus_texts(size_t every) {
  std::ifstream in(std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/tokenizer/corpus.jsonl");
  std::vector<std::string> texts;
  std::string line;
  for (size_t i = 0; std::getline(in, line); ++i) {
    if (i % every != 0) continue;
    const std::string hex = nlohmann::json::parse(line).at("hex").get<std::string>();
    std::string bytes;
    for (size_t j = 0; j + 1 < hex.size(); j += 2)
      bytes += static_cast<char>(std::stoi(hex.substr(j, 2), nullptr, 16));
    texts.push_back(sanitize_utf8(bytes));
  }
  return texts;
}

TEST(CompleteUtf8Prefix, HoldsBackOnlyIncompleteTails) {
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xc3"), 1u);          // lead of a 2-byte sequence
  EXPECT_EQ(complete_utf8_prefix("a\xc3\xa9"), 3u);      // é complete
  EXPECT_EQ(complete_utf8_prefix("\xe2\x82"), 0u);       // 2 of 3 bytes of €
  EXPECT_EQ(complete_utf8_prefix("x\xf0\x9f\x98"), 1u);  // 3 of 4 bytes of an emoji
  EXPECT_EQ(complete_utf8_prefix("x\xf0\x9f\x98\x80"), 5u);
  EXPECT_EQ(complete_utf8_prefix("x\xff"), 2u);  // invalid byte: nothing to wait for
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
}

class StreamDecoderTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamDecoderTest, PiecesConcatenateToTheFullDecode) {
  auto tokenizer = load_tokenizer(test::shared_data_dir() + "/" + GetParam());
  ASSERT_TRUE(tokenizer.has_value()) << tokenizer.status().to_string();
  int checked = 0;
  for (const std::string& text : corpus_texts(7)) {
    const std::vector<int32_t> ids = (*tokenizer)->encode(text, EncodeOptions{false, false});
    const std::string full = (*tokenizer)->decode(ids);
    StreamDecoder stream(**tokenizer);
    std::string joined;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(complete_utf8_prefix(piece), piece.size()) << "a piece ends inside a character";
      joined += piece;
    }
    joined += stream.finish();
    EXPECT_EQ(joined, full) << GetParam() << ": " << text.substr(0, 80);
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

// A stream continuing a prompt: the pieces are exactly what the full decode adds to the prompt's decode, so
// text a client appends to its prompt reads as the model's continuation (SentencePiece keeps the space).
TEST_P(StreamDecoderTest, PrimedStreamContinuesThePrompt) {
  auto tokenizer = load_tokenizer(test::shared_data_dir() + "/" + GetParam());
  ASSERT_TRUE(tokenizer.has_value()) << tokenizer.status().to_string();
  int checked = 0;
  for (const std::string& text : corpus_texts(7)) {
    const std::vector<int32_t> ids = (*tokenizer)->encode(text, EncodeOptions{false, false});
    if (ids.size() < 4) continue;
    const size_t split = ids.size() / 2;
    const std::span<const int32_t> all(ids);
    const std::string prompt_text = (*tokenizer)->decode(all.first(split));
    const std::string full = (*tokenizer)->decode(ids);
    // Only where the full decode starts with the prompt's (byte-level merges can rewrite the boundary).
    if (full.compare(0, prompt_text.size(), prompt_text) != 0) continue;
    StreamDecoder stream(**tokenizer);
    stream.prime(all.first(split));
    std::string joined;
    for (size_t i = split; i < ids.size(); ++i)
      joined += stream.push(ids[i]);
    joined += stream.finish();
    EXPECT_EQ(joined, full.substr(prompt_text.size())) << GetParam() << ": " << text.substr(0, 80);
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, StreamDecoderTest,
                         ::testing::Values("tokenizers/llama2", "tokenizers/llama2/tokenizer.model",
                                           "tokenizers/llama3/tokenizer.model", "tokenizers/gpt2",
                                           "tokenizers/qwen2", "tokenizers/phi3",
                                           "models/stories260K/stories260K.gguf"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace autoglm

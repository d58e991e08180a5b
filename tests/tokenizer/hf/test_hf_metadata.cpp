// Vocabulary access, special-token metadata and describe() of the shipped HF tokenizers (values from their
// tokenizer_config.json and from transformers' defaults for the GPT-2 class).
#include <gtest/gtest.h>

#include "hf_test_data.h"
#include "tokenizer/hf_tokenizer.h"

namespace autoglm {
namespace {

std::unique_ptr<Tokenizer> load_json(const std::string& name) {
  auto tok = load_hf_tokenizer_json(test::shared_tokenizer_dir(name) + "/tokenizer.json");
  EXPECT_TRUE(tok.has_value()) << tok.status().to_string();
  return tok.has_value() ? std::move(tok).value() : nullptr;
}

std::unique_ptr<Tokenizer> load_vm(const std::string& name) {
  auto tok = load_hf_vocab_merges(test::shared_tokenizer_dir(name));
  EXPECT_TRUE(tok.has_value()) << tok.status().to_string();
  return tok.has_value() ? std::move(tok).value() : nullptr;
}

TEST(HfMetadata, Llama2) {
  auto tok = load_json("llama2");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id(), std::optional<int32_t>(1));
  EXPECT_EQ(tok->eos_id(), std::optional<int32_t>(2));
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(100));
  EXPECT_EQ(tok->id_to_piece(1), "<s>");
  EXPECT_EQ(tok->id_to_piece(13), "<0x0A>");
  EXPECT_EQ(tok->piece_to_id("\xE2\x96\x81the"), std::optional<int32_t>(278));
  EXPECT_EQ(tok->id_to_piece(32000), "");
  EXPECT_EQ(tok->id_to_piece(-1), "");
  EXPECT_NE(tok->describe().find("bpe"), std::string::npos) << tok->describe();
}

TEST(HfMetadata, Phi3AndChatglm3) {
  auto phi3 = load_json("phi3");
  ASSERT_NE(phi3, nullptr);
  EXPECT_EQ(phi3->vocab_size(), 32011);
  EXPECT_EQ(phi3->bos_id(), std::optional<int32_t>(1));
  EXPECT_EQ(phi3->eos_id(), std::optional<int32_t>(32000));
  EXPECT_TRUE(phi3->is_special(32007));  // <|end|>
  EXPECT_FALSE(phi3->is_special(2));     // </s> is an added token but not special in this file
  EXPECT_EQ(phi3->piece_to_id("<|user|>"), std::optional<int32_t>(32010));

  auto glm = load_json("chatglm3");
  ASSERT_NE(glm, nullptr);
  EXPECT_EQ(glm->bos_id(), std::nullopt);
  EXPECT_EQ(glm->eos_id(), std::optional<int32_t>(2));
  EXPECT_EQ(glm->piece_to_id("[gMASK]"), std::optional<int32_t>(64790));
  EXPECT_EQ(glm->encode("hi", {.add_special_tokens = true}).front(), 64790);
}

TEST(HfMetadata, MiniLm) {
  auto tok = load_json("minilm");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 30522);
  EXPECT_EQ(tok->bos_id(), std::nullopt);
  EXPECT_EQ(tok->encode("Hello, World!"), (std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}, {.skip_special_tokens = true}),
            "hello, world!");
  EXPECT_NE(tok->describe().find("wordpiece"), std::string::npos);
}

TEST(HfMetadata, Qwen2AndGpt2) {
  auto qwen = load_vm("qwen2");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->vocab_size(), 151646);
  EXPECT_EQ(qwen->bos_id(), std::nullopt);
  EXPECT_EQ(qwen->eos_id(), std::optional<int32_t>(151643));
  EXPECT_TRUE(qwen->is_special(151644));
  EXPECT_EQ(qwen->id_to_piece(151644), "<|im_start|>");
  EXPECT_EQ(qwen->piece_to_id("\xC4\xA0the"), std::optional<int32_t>(279));  // "Ġthe"
  EXPECT_NE(qwen->describe().find("byte-level"), std::string::npos) << qwen->describe();

  auto gpt2 = load_vm("gpt2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(gpt2->vocab_size(), 50257);
  EXPECT_EQ(gpt2->bos_id(), std::optional<int32_t>(50256));
  EXPECT_EQ(gpt2->eos_id(), std::optional<int32_t>(50256));
  EXPECT_TRUE(gpt2->is_special(50256));
  EXPECT_EQ(gpt2->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  // Byte-level pieces can split a character; decode returns the raw bytes.
  const std::string rare = "\xF0\xA0\x80\x80";  // U+20000
  const auto ids = gpt2->encode(rare);
  ASSERT_GT(ids.size(), 1u);
  const std::string head = gpt2->decode(std::vector<int32_t>(ids.begin(), ids.end() - 1));
  EXPECT_LT(head.size(), rare.size());
  EXPECT_EQ(rare.compare(0, head.size(), head), 0);
  EXPECT_EQ(gpt2->decode(ids), rare);
}

}  // namespace
}  // namespace autoglm

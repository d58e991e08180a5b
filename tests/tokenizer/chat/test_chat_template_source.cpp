// find_chat_template on HF folders: which file wins, where BOS/EOS come from, named templates, broken files.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/test_data.h"
#include "tokenizer/chat/chat_template_source.h"

namespace autoglm {
namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(ChatTemplateSource, TokenizerConfigTemplateAndSpecialTokens) {
  const std::string dir = test::temp_dir("chat_source_config");
  write(dir + "/tokenizer_config.json",
        R"({"chat_template": "A", "bos_token": {"content": "<s>"}, "eos_token": "</s>"})");
  auto c = find_chat_template(dir);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->chat_template, "A");
  EXPECT_EQ(c->bos_token, "<s>");
  EXPECT_EQ(c->eos_token, "</s>");
  // A tokenizer.json path looks in its folder.
  write(dir + "/tokenizer.json", "{}");
  EXPECT_EQ(find_chat_template(dir + "/tokenizer.json")->chat_template, "A");
}

TEST(ChatTemplateSource, JinjaFileWinsAndKeepsTheConfigsSpecialTokens) {
  const std::string dir = test::temp_dir("chat_source_jinja");
  write(dir + "/tokenizer_config.json", R"({"bos_token": "<|begin|>", "eos_token": null})");
  write(dir + "/chat_template.jinja", "J");
  auto c = find_chat_template(dir);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->chat_template, "J");
  EXPECT_EQ(c->bos_token, "<|begin|>");
  EXPECT_FALSE(c->eos_token.has_value());
}

TEST(ChatTemplateSource, ProcessorChatTemplateJsonAndNamedTemplates) {
  const std::string dir = test::temp_dir("chat_source_named");
  write(dir + "/chat_template.json", R"({"chat_template": [{"name": "default", "template": "D"},
                                                         {"name": "tool_use", "template": "T"}]})");
  EXPECT_EQ(find_chat_template(dir)->chat_template, "D");
  EXPECT_EQ(find_chat_template(dir, "tool_use")->chat_template, "T");
  EXPECT_EQ(find_chat_template(dir, "other").status().code(), StatusCode::kNotFound);
}

TEST(ChatTemplateSource, MissingAndBrokenFiles) {
  const std::string dir = test::temp_dir("chat_source_broken");
  EXPECT_EQ(find_chat_template(dir).status().code(), StatusCode::kNotFound);
  write(dir + "/tokenizer_config.json", "{ not json");
  const auto broken = find_chat_template(dir);
  EXPECT_EQ(broken.status().code(), StatusCode::kParseError);
  EXPECT_NE(broken.status().to_string().find("tokenizer_config.json"), std::string::npos);
  EXPECT_EQ(find_chat_template(dir + "/missing.gguf").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace autoglm

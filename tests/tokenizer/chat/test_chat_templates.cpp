// Every real chat template of ../shared/data/chat_templates on every conversation of its expectation file
// (tests/data/chat_templates/<template>.jsonl, from HF transformers' apply_chat_template): the rendering must
// be equal byte for byte, and conversations the reference rejects must be rejected the same way.
#include <gtest/gtest.h>

#include "chat_test_util.h"
#include "tokenizer/chat/chat_template.h"

namespace autoglm::test {
namespace {

using jinja::Value;

class ChatTemplateExpectations : public ::testing::TestWithParam<const char*> {};

std::string template_source(const Value& meta) {
  const std::string file = field(meta, "file").as_string();
  const std::string text = read_file(shared_data_dir() + "/chat_templates/" + file);
  const Value& key = field(meta, "json_key");
  if (key.is_none()) return text;
  Expected<ChatTemplateConfig> config = chat_template_from_config(text);
  EXPECT_TRUE(config.has_value()) << config.status().to_string();
  return config.has_value() ? config->chat_template : std::string();
}

TEST_P(ChatTemplateExpectations, MatchesTransformersByteForByte) {
  const std::vector<Value> records = read_jsonl(chat_data_path(std::string(GetParam()) + ".jsonl"));
  ASSERT_GE(records.size(), 21u) << "expectation file missing or short";
  const Value& meta = field(records[0], "meta");
  const std::string source = template_source(meta);
  ASSERT_FALSE(source.empty());
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(source);
  ASSERT_TRUE(tmpl.has_value()) << tmpl.status().to_string();

  size_t rendered = 0;
  size_t rejected = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    const Value& c = records[i];
    const std::string where = std::string(GetParam()) + " / " + field(c, "name").as_string();
    ChatRenderOptions options;
    options.add_generation_prompt = field(c, "add_generation_prompt").truthy();
    if (field(c, "bos_token").is_string()) options.bos_token = field(c, "bos_token").as_string();
    if (field(c, "eos_token").is_string()) options.eos_token = field(c, "eos_token").as_string();
    options.kwargs = field(c, "kwargs").as_dict();
    options.now = fixed_now(meta);
    Expected<std::string> out = tmpl->render(field(c, "messages"), field(c, "tools"), options);
    if (field(c, "expected").is_string()) {
      ++rendered;
      ASSERT_TRUE(out.has_value()) << where << ": " << out.status().to_string();
      EXPECT_EQ(*out, field(c, "expected").as_string()) << where;
    } else {
      ++rejected;
      ASSERT_FALSE(out.has_value()) << where << " rendered but the reference rejects it with "
                                    << field(c, "error").as_string();
      expect_same_error(out.status(), field(c, "error_type").as_string(), field(c, "error").as_string(),
                        where);
    }
  }
  EXPECT_GE(rendered, 20u);
  RecordProperty("rendered", static_cast<int>(rendered));
  RecordProperty("rejected", static_cast<int>(rejected));
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ChatTemplateExpectations,
                         ::testing::Values("gemma-3", "glm-4.5", "gpt-oss", "llama-3.2", "mistral-nemo",
                                           "phi-4-mini", "qwen2.5", "qwen3", "smollm3"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return name;
                         });

// render_json takes the request's JSON text directly (OpenAI server path).
TEST(ChatTemplate, RenderJsonMatchesRender) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if tools %}{{ tools | tojson }}{% "
      "endif %}");
  ASSERT_TRUE(tmpl.has_value());
  ChatRenderOptions options;
  Expected<std::string> out =
      tmpl->render_json(R"([{"role":"user","content":"hé"},{"role":"assistant","content":null}])",
                        R"([{"name":"f","b":1,"a":2}])", options);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_EQ(*out, "<user>hé<assistant>[{\"name\": \"f\", \"b\": 1, \"a\": 2}]");
  EXPECT_FALSE(tmpl->render_json("[{\"role\": ", "", options).has_value());
  EXPECT_FALSE(tmpl->render_json("[1]", "", options).has_value());  // messages must be dicts
}

// HF's preprocessing: null keys dropped, reasoning aliased to both reasoning_content and thinking (key order
// as Python's {"thinking": r, **message, "reasoning_content": r}).
TEST(ChatTemplate, NormalizesMessagesLikeTransformers) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse("{% for m in messages %}{{ m | tojson }}\n{% endfor %}");
  ASSERT_TRUE(tmpl.has_value());
  Expected<std::string> out = tmpl->render_json(
      R"([{"role":"assistant","content":"x","tool_calls":null,"reasoning":"r1"},
          {"role":"assistant","reasoning_content":"r2","content":"y"},
          {"role":"user","content":"z","thinking":null}])",
      "", ChatRenderOptions{});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_EQ(
      *out,
      "{\"thinking\": \"r1\", \"role\": \"assistant\", \"content\": \"x\", \"reasoning\": \"r1\", "
      "\"reasoning_content\": \"r1\"}\n"
      "{\"thinking\": \"r2\", \"role\": \"assistant\", \"reasoning_content\": \"r2\", \"content\": \"y\"}\n"
      "{\"role\": \"user\", \"content\": \"z\"}\n");
}

TEST(ChatTemplate, VariablesAndKwargs) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(
      "{{ bos_token }}|{{ eos_token }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|{{ "
      "enable_thinking }}|"
      "{{ bos_token is defined }}");
  ASSERT_TRUE(tmpl.has_value());
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.eos_token = "</s>";
  options.kwargs.set("enable_thinking", Value(false));
  Expected<std::string> out = tmpl->render(Value::list({}), Value(), options);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, "|</s>|None|None|True|False|False");
  options.kwargs.set("eos_token", Value("override"));
  EXPECT_EQ(*tmpl->render(Value::list({}), Value(), options), "|override|None|None|True|False|False");
  options.kwargs.set("messages", Value(1));
  EXPECT_EQ(tmpl->render(Value::list({}), Value(), options).status().code(), StatusCode::kInvalidArgument);
}

TEST(ChatTemplate, ConfigReading) {
  Expected<ChatTemplateConfig> config = chat_template_from_config(
      R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
          "chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]})",
      "tool_use");
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->chat_template, "B");
  EXPECT_EQ(config->bos_token, "<s>");
  EXPECT_EQ(config->eos_token, "</s>");
  EXPECT_EQ(chat_template_from_config(R"({"eos_token": "x"})").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(chat_template_from_config("{").status().code(), StatusCode::kParseError);
}

TEST(ChatTemplate, StrftimeNowUsesTheGivenTime) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse("{{ strftime_now('%A %d %B %Y, day %j, %H:%M:%S%z') }}");
  ASSERT_TRUE(tmpl.has_value());
  ChatRenderOptions options;
  std::tm now{};
  now.tm_year = 2024 - 1900;
  now.tm_mon = 1;
  now.tm_mday = 29;
  now.tm_hour = 23;
  now.tm_min = 5;
  now.tm_sec = 9;
  options.now = now;  // weekday and day of year are derived
  Expected<std::string> out = tmpl->render(Value::list({}), Value(), options);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, "Thursday 29 February 2024, day 060, 23:05:09");
}

TEST(ChatTemplate, StrftimeNowDefaultsToCurrentTime) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse("{{ strftime_now('%Y') }}");
  ASSERT_TRUE(tmpl.has_value());
  Expected<std::string> out = tmpl->render(Value::list({}), Value(), ChatRenderOptions{});
  ASSERT_TRUE(out.has_value());
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  EXPECT_EQ(*out, std::to_string(tm.tm_year + 1900));
}

}  // namespace
}  // namespace autoglm::test

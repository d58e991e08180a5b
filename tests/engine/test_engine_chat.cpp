// Chat templates reached through the engine: from GGUF metadata (tokenizer.chat_template, BOS/EOS strings
// from the GGUF vocabulary), from a replacement file, and through `autoglm generate --chat`.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "autoglm/engine.h"
#include "gguf/gguf_file.h"
#include "support/gguf_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% if think %} <think>{% endif %}{% endif %}{{ eos_token }}";

std::string stories_path() {
  return test::shared_data_dir() + "/models/stories260K/stories260K.gguf";
}

// stories260K.gguf rewritten with extra string keys (the writer supports the value types that file uses).
std::string stories_with(const std::vector<std::pair<std::string, std::string>>& extra,
                         const std::string& name) {
  auto file = GgufFile::open(stories_path());
  EXPECT_TRUE(file.has_value()) << file.status().to_string();
  test::GgufWriter w;
  for (const std::string& key : (*file)->keys()) {
    const GgufValue& v = *(*file)->find(key);
    switch (v.type) {
      case GgufValueType::kUint32:
        w.add_u32(key, static_cast<uint32_t>(*v.as_int()));
        break;
      case GgufValueType::kFloat32:
        w.add_f32(key, static_cast<float>(*v.as_float()));
        break;
      case GgufValueType::kString:
        w.add_string(key, std::string(*v.as_string()));
        break;
      case GgufValueType::kArray: {
        const GgufArray& a = *v.as_array();
        if (a.element_type == GgufValueType::kString) {
          w.add_string_array(key, a.strings);
        } else if (a.element_type == GgufValueType::kFloat32) {
          w.add_f32_array(key, std::vector<float>(a.floats.begin(), a.floats.end()));
        } else {
          w.add_i32_array(key, std::vector<int32_t>(a.ints.begin(), a.ints.end()));
        }
        break;
      }
      default:
        ADD_FAILURE() << "unexpected metadata type in " << key;
    }
  }
  for (const auto& [key, value] : extra)
    w.add_string(key, value);
  for (const GgufTensorInfo& t : (*file)->tensors()) {
    const uint8_t* data = (*file)->tensor_data(t);
    w.add_tensor(t.name, std::vector<uint64_t>(t.dims.begin(), t.dims.end()), t.type,
                 std::vector<uint8_t>(data, data + t.bytes));
  }
  const std::string path = test::temp_dir("engine_chat_" + name) + "/model.gguf";
  const std::vector<uint8_t> bytes = w.bytes();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return path;
}

std::unique_ptr<Engine> open(const std::string& path, const std::string& template_file = "") {
  EngineOptions options;
  options.model_path = path;
  options.n_threads = 2;
  options.chat_template_file = template_file;
  std::unique_ptr<Engine> engine;
  const Status s = Engine::create(options, &engine);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return engine;
}

const std::string kMessages =
    R"([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])";

TEST(EngineChat, RendersTheTemplateFromGgufMetadataWithVocabularySpecialTokens) {
  auto engine = open(stories_with({{"tokenizer.chat_template", kTemplate}}, "metadata"));
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->has_chat_template());
  std::string prompt;
  ASSERT_TRUE(engine->apply_chat_template(kMessages, "", ChatOptions{}, &prompt).is_ok());
  EXPECT_EQ(prompt, "<s>[system] be brief\n[user] hi\n[assistant]</s>");
  ASSERT_TRUE(engine->apply_chat_template(kMessages, "", ChatOptions{false, ""}, &prompt).is_ok());
  EXPECT_EQ(prompt, "<s>[system] be brief\n[user] hi\n</s>");
  ASSERT_TRUE(
      engine->apply_chat_template(kMessages, "", ChatOptions{true, R"({"think": true})"}, &prompt).is_ok());
  EXPECT_EQ(prompt, "<s>[system] be brief\n[user] hi\n[assistant] <think></s>");
}

TEST(EngineChat, RejectsBadArgumentsAndConversations) {
  auto engine = open(stories_with({{"tokenizer.chat_template", kTemplate}}, "bad_args"));
  ASSERT_TRUE(engine);
  std::string prompt;
  EXPECT_EQ(engine->apply_chat_template("[{", "", ChatOptions{}, &prompt).code(), StatusCode::kParseError);
  EXPECT_FALSE(engine->apply_chat_template(kMessages, "", ChatOptions{true, "[1, 2]"}, &prompt).is_ok());
  EXPECT_FALSE(engine->apply_chat_template(kMessages, "", ChatOptions{true, "{"}, &prompt).is_ok());
}

TEST(EngineChat, ModelWithoutTemplateReportsNotFound) {
  auto engine = open(stories_path());
  ASSERT_TRUE(engine);
  EXPECT_FALSE(engine->has_chat_template());
  std::string prompt;
  EXPECT_EQ(engine->apply_chat_template(kMessages, "", ChatOptions{}, &prompt).code(), StatusCode::kNotFound);
}

TEST(EngineChat, TemplateFileReplacesTheModelsOwn) {
  const std::string dir = test::temp_dir("engine_chat_file");
  std::ofstream(dir + "/t.jinja") << "{% for m in messages %}<{{ m.content }}>{% endfor %}";
  auto engine = open(stories_with({{"tokenizer.chat_template", kTemplate}}, "replaced"), dir + "/t.jinja");
  ASSERT_TRUE(engine);
  std::string prompt;
  ASSERT_TRUE(engine->apply_chat_template(kMessages, "", ChatOptions{}, &prompt).is_ok());
  EXPECT_EQ(prompt, "<be brief><hi>");
}

TEST(EngineChat, BrokenTemplateFailsAtCreateWithItsPosition) {
  EngineOptions options;
  options.model_path = stories_with({{"tokenizer.chat_template", "{% for m in messages %}"}}, "broken");
  std::unique_ptr<Engine> engine;
  const Status s = Engine::create(options, &engine);
  EXPECT_EQ(s.code(), StatusCode::kParseError) << s.to_string();
  EXPECT_NE(s.to_string().find("chat template"), std::string::npos) << s.to_string();
  options.model_path = stories_path();
  options.chat_template_file = test::temp_dir("engine_chat_missing") + "/none.jinja";
  EXPECT_EQ(Engine::create(options, &engine).code(), StatusCode::kNotFound);
}

// `generate --chat` tokenizes the rendered prompt without adding BOS again (the template wrote it).
TEST(EngineChat, CliChatPromptEqualsTheRenderedPromptsIds) {
  const std::string model = stories_with({{"tokenizer.chat_template", kTemplate}}, "cli");
  auto engine = open(model);
  ASSERT_TRUE(engine);
  std::string prompt;
  ASSERT_TRUE(
      engine->apply_chat_template(R"([{"role": "user", "content": "Once upon a time"}])", "", {}, &prompt)
          .is_ok());
  std::vector<int32_t> ids;
  ASSERT_TRUE(engine->tokenize(prompt, false, true, &ids).is_ok());
  ASSERT_EQ(ids.front(), 1);  // "<s>" parsed as the BOS token
  std::string id_text;
  for (int32_t id : ids) {
    if (!id_text.empty()) id_text += ' ';
    id_text += std::to_string(id);
  }

  std::string chat_out, ids_out, err;
  ASSERT_EQ(test::run_command(test::autoglm_binary() + " generate -m " + model +
                                  " --chat -p 'Once upon a time' -n 12 --temp 0 --ignore-eos --print-ids",
                              &chat_out, &err),
            0)
      << err;
  ASSERT_EQ(test::run_command(test::autoglm_binary() + " generate -m " + model + " --prompt-ids '" + id_text +
                                  "' -n 12 --temp 0 --ignore-eos --print-ids",
                              &ids_out, &err),
            0)
      << err;
  EXPECT_EQ(chat_out, ids_out);
  EXPECT_EQ(std::count(chat_out.begin(), chat_out.end(), ' '), 11);
}

}  // namespace
}  // namespace autoglm

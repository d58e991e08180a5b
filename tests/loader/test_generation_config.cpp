// load_generation_config: fixtures, a full sampling config, absent file -> defaults, malformed -> errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loader/generation_config.h"
#include "support/safetensors_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

class GenerationConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir(std::string("generation_config_") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/generation_config.json";
  }
  Expected<GenerationConfig> load_text(const std::string& text) {
    EXPECT_TRUE(test::write_text(path_, text));
    return load_generation_config(dir_);
  }
  std::string dir_, path_;
};

TEST(GenerationConfigFixtures, EveryFixtureHasBosAndEos) {
  for (const char* name : {"llama", "llama3", "mistral", "qwen2", "qwen3", "glm", "glm4"}) {
    SCOPED_TRACE(name);
    auto g = load_generation_config(test::fixture_dir(name));
    ASSERT_TRUE(g) << g.status().to_string();
    EXPECT_EQ(g->bos_token_id, 1);
    EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{2}));
    EXPECT_EQ(g->pad_token_id, 0);
    EXPECT_FALSE(g->temperature.has_value());
    EXPECT_FALSE(g->do_sample.has_value());
    EXPECT_FALSE(g->max_new_tokens.has_value());
  }
}

TEST_F(GenerationConfigFiles, FullSamplingConfig) {
  auto g = load_text(R"({"temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": 0.05,
                         "repetition_penalty": 1.1, "do_sample": true, "eos_token_id": [151645, 151643],
                         "bos_token_id": 151643, "max_new_tokens": 512, "max_length": 4096})");
  ASSERT_TRUE(g) << g.status().to_string();
  EXPECT_DOUBLE_EQ(*g->temperature, 0.6);
  EXPECT_EQ(*g->top_k, 20);
  EXPECT_DOUBLE_EQ(*g->top_p, 0.95);
  EXPECT_DOUBLE_EQ(*g->min_p, 0.05);
  EXPECT_DOUBLE_EQ(*g->repetition_penalty, 1.1);
  EXPECT_TRUE(*g->do_sample);
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(g->bos_token_id, 151643);
  EXPECT_EQ(g->max_new_tokens, 512);
  EXPECT_EQ(g->max_length, 4096);
}

TEST_F(GenerationConfigFiles, IntegerTemperatureAndNulls) {
  auto g = load_text(R"({"temperature": 1, "top_p": null, "eos_token_id": null, "bos_token_id": null})");
  ASSERT_TRUE(g) << g.status().to_string();
  EXPECT_DOUBLE_EQ(*g->temperature, 1.0);
  EXPECT_FALSE(g->top_p.has_value());
  EXPECT_TRUE(g->eos_token_ids.empty());
  EXPECT_FALSE(g->bos_token_id.has_value());
}

TEST_F(GenerationConfigFiles, AbsentFileGivesDefaults) {
  auto g = load_generation_config(dir_);
  ASSERT_TRUE(g) << g.status().to_string();
  EXPECT_FALSE(g->temperature.has_value());
  EXPECT_FALSE(g->top_k.has_value());
  EXPECT_TRUE(g->eos_token_ids.empty());
  EXPECT_FALSE(g->bos_token_id.has_value());
}

TEST_F(GenerationConfigFiles, MissingDirectoryIsNotFound) {
  const Status s = load_generation_config(dir_ + "/no_such_model").status();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no_such_model"), std::string::npos) << s.to_string();
}

TEST_F(GenerationConfigFiles, AcceptsTheFilePath) {
  ASSERT_TRUE(test::write_text(path_, R"({"top_k": 5})"));
  auto g = load_generation_config(path_);
  ASSERT_TRUE(g) << g.status().to_string();
  EXPECT_EQ(g->top_k, 5);
}

TEST_F(GenerationConfigFiles, MalformedJson) {
  const Status s = load_text(R"({"temperature": 0.7,,})").status();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kParseError);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("not valid JSON"), std::string::npos) << s.to_string();
}

TEST_F(GenerationConfigFiles, WrongTypes) {
  for (const char* text : {R"({"temperature": "hot"})", R"({"top_k": 2.5})", R"({"do_sample": 1})",
                           R"({"eos_token_id": ["2"]})", R"([1, 2])"}) {
    SCOPED_TRACE(text);
    const Status s = load_text(text).status();
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), StatusCode::kParseError);
    EXPECT_NE(s.message().find(path_), std::string::npos) << s.to_string();
  }
  const Status s = load_text(R"({"temperature": "hot"})").status();
  EXPECT_NE(s.message().find("'temperature' must be a number"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace autoglm

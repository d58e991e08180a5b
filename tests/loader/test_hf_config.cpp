// load_hf_config: every golden fixture (transformers 5 format), legacy hub configs written by the test, and
// clear errors for broken ones.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader/hf_config.h"
#include "support/safetensors_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using Json = nlohmann::json;
using LT = LayerAttentionType;

void expect_error(const Status& status, StatusCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), code) << status.to_string();
  for (const std::string& f : fragments) {
    EXPECT_NE(status.message().find(f), std::string::npos) << status.to_string() << " lacks '" << f << "'";
  }
}

ModelConfig load_fixture(const std::string& name) {
  auto config = load_hf_config(test::fixture_dir(name));
  EXPECT_TRUE(config) << config.status().to_string();
  return config ? *config : ModelConfig{};
}

// A minimal config in the pre-transformers-5 layout (top-level rope_theta, rope_scaling, torch_dtype).
Json legacy_llama() {
  return Json{{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"vocab_size", 128},
              {"hidden_size", 64},
              {"intermediate_size", 128},
              {"num_hidden_layers", 3},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"max_position_embeddings", 512},
              {"rms_norm_eps", 1e-6},
              {"rope_theta", 500000.0},
              {"rope_scaling", nullptr},
              {"torch_dtype", "bfloat16"},
              {"bos_token_id", 10},
              {"eos_token_id", {11, 12}}};
}

class HfConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir(std::string("hf_config_") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/config.json";
  }
  Expected<ModelConfig> load(const Json& j) { return load_text(j.dump(2)); }
  Expected<ModelConfig> load_text(const std::string& text) {
    EXPECT_TRUE(test::write_text(path_, text));
    return load_hf_config(dir_);
  }
  std::string dir_, path_;
};

// ---- fixtures (transformers 5.17) -----------------------------------------------------------------------

TEST(HfConfigFixtures, Llama) {
  const ModelConfig c = load_fixture("llama");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 160);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.rope.scaling, RopeScalingType::kNone);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope.partial_rotary_factor, 1.0);
  EXPECT_EQ(c.rotary_dim(), 16);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.layer_types, (std::vector<LT>{LT::kFull, LT::kFull}));
  EXPECT_EQ(c.bos_token_ids, (std::vector<int64_t>{1}));
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(c.torch_dtype, "float32");
}

TEST(HfConfigFixtures, Llama3RopeScaling) {
  const ModelConfig c = load_fixture("llama3");
  EXPECT_EQ(c.rope.scaling, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 64);
  EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.num_attention_heads, 3);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(HfConfigFixtures, GlmAndGlm4) {
  for (const char* name : {"glm", "glm4"}) {
    SCOPED_TRACE(name);
    const ModelConfig c = load_fixture(name);
    EXPECT_EQ(c.model_type, name);
    EXPECT_DOUBLE_EQ(c.rope.partial_rotary_factor, 0.5);
    EXPECT_EQ(c.head_dim, 32);
    EXPECT_EQ(c.rotary_dim(), 16);
    EXPECT_TRUE(c.attention_bias);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(c.sliding_window, 0);
  }
}

TEST(HfConfigFixtures, MistralSlidingWindowOnAllLayers) {
  const ModelConfig c = load_fixture("mistral");
  EXPECT_EQ(c.sliding_window, 16);
  EXPECT_EQ(c.layer_types, (std::vector<LT>{LT::kSliding, LT::kSliding}));
  EXPECT_FALSE(c.attention_bias);
}

TEST(HfConfigFixtures, Qwen2ImplicitBiasNoWindow) {
  const ModelConfig c = load_fixture("qwen2");
  EXPECT_TRUE(c.attention_bias);  // absent from config.json: Qwen2 always has q/k/v bias
  EXPECT_EQ(c.head_dim, 16);      // no head_dim key: hidden / heads
  EXPECT_DOUBLE_EQ(c.rope.theta, 1000000.0);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.layer_types, (std::vector<LT>{LT::kFull, LT::kFull}));
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(HfConfigFixtures, Qwen3) {
  const ModelConfig c = load_fixture("qwen3");
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.head_dim, 32);  // != hidden / heads (16)
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(HfConfigFixtures, AcceptsTheConfigFilePath) {
  auto c = load_hf_config(test::fixture_dir("mistral") + "/config.json");
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->model_type, "mistral");
}

// ---- legacy hub layout ----------------------------------------------------------------------------------

TEST_F(HfConfigFiles, LegacyPlainRope) {
  auto c = load(legacy_llama());
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->rope.scaling, RopeScalingType::kNone);
  EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->bos_token_ids, (std::vector<int64_t>{10}));
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(c->layer_types.size(), 3u);
}

TEST_F(HfConfigFiles, LegacyLinearScalingWithTypeKey) {
  Json j = legacy_llama();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->rope.scaling, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope.factor, 2.0);
  EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
}

TEST_F(HfConfigFiles, LegacyLlama3Scaling) {
  Json j = legacy_llama();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  j["head_dim"] = nullptr;  // null reads as absent
  auto c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->rope.scaling, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
  EXPECT_EQ(c->head_dim, 16);
}

TEST_F(HfConfigFiles, LegacyGlmDefaults) {
  Json j = legacy_llama();
  j["model_type"] = "glm";
  auto c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_TRUE(c->attention_bias);                        // GlmConfig default
  EXPECT_DOUBLE_EQ(c->rope.partial_rotary_factor, 0.5);  // GlmConfig default
  j["partial_rotary_factor"] = 0.25;
  j["attention_bias"] = false;
  c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->rotary_dim(), 4);
}

TEST_F(HfConfigFiles, QwenSlidingWindowFollowsMaxWindowLayers) {
  Json j = legacy_llama();
  j["model_type"] = "qwen2";
  j["sliding_window"] = 8;
  j["max_window_layers"] = 1;
  j["use_sliding_window"] = false;
  auto c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->sliding_window, 0);  // HF drops the window unless use_sliding_window
  EXPECT_EQ(c->layer_types, (std::vector<LT>{LT::kFull, LT::kFull, LT::kFull}));
  j["use_sliding_window"] = true;
  c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->sliding_window, 8);
  EXPECT_EQ(c->layer_types, (std::vector<LT>{LT::kFull, LT::kSliding, LT::kSliding}));
  j["layer_types"] = {"sliding_attention", "full_attention", "full_attention"};  // explicit list wins
  c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->layer_types, (std::vector<LT>{LT::kSliding, LT::kFull, LT::kFull}));
}

TEST_F(HfConfigFiles, MistralWindowNullOrAbsent) {
  Json j = legacy_llama();
  j["model_type"] = "mistral";
  j["sliding_window"] = nullptr;
  auto c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->layer_types, (std::vector<LT>(3, LT::kFull)));
  j.erase("sliding_window");  // MistralConfig's default
  c = load(j);
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->layer_types, (std::vector<LT>(3, LT::kSliding)));
}

// ---- errors ---------------------------------------------------------------------------------------------

TEST_F(HfConfigFiles, MissingFile) {
  expect_error(load_hf_config(dir_).status(), StatusCode::kNotFound, {path_});
}

TEST_F(HfConfigFiles, MalformedJson) {
  expect_error(load_text(R"({"hidden_size": 64,)").status(), StatusCode::kParseError, {path_, "parse error"});
}

TEST_F(HfConfigFiles, MissingHiddenSize) {
  Json j = legacy_llama();
  j.erase("hidden_size");
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "missing", "'hidden_size'"});
}

TEST_F(HfConfigFiles, HiddenSizeAsString) {
  Json j = legacy_llama();
  j["hidden_size"] = "64";
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "'hidden_size'", "integer", "string"});
}

TEST_F(HfConfigFiles, HeadsNotDivisibleByKvHeads) {
  Json j = legacy_llama();
  j["num_key_value_heads"] = 3;
  expect_error(load(j).status(), StatusCode::kParseError,
               {path_, "num_attention_heads 4", "num_key_value_heads 3"});
}

TEST_F(HfConfigFiles, UnsupportedRopeType) {
  Json j = legacy_llama();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error(load(j).status(), StatusCode::kUnsupported, {path_, "'yarn'", "not supported"});
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"rope_theta", 10000.0}, {"factor", 2.0}};
  expect_error(load(j).status(), StatusCode::kUnsupported, {path_, "'dynamic'"});
}

TEST_F(HfConfigFiles, InconsistentConfigs) {
  Json j = legacy_llama();
  j["layer_types"] = {"full_attention"};
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "layer_types has 1 entries"});
  j["layer_types"] = {"full_attention", "chunked_attention", "full_attention"};
  expect_error(load(j).status(), StatusCode::kUnsupported, {path_, "chunked_attention"});
  j = legacy_llama();
  j["head_dim"] = 15;
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "head_dim 15", "even"});
  j = legacy_llama();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "rope_scaling.low_freq_factor"});
  j = legacy_llama();
  j["vocab_size"] = 0;
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "vocab_size must be positive"});
  // A head_dim near INT64_MAX once made head_dim x partial_rotary_factor overflow the conversion back from
  // double; one past 2^53 makes the rotary dim round above head_dim. Both are refused by the size bounds.
  for (int64_t head_dim : {int64_t{9223372036854775806}, (int64_t{1} << 60) - 2, int64_t{1} << 15}) {
    j = legacy_llama();
    j["head_dim"] = head_dim;
    expect_error(load(j).status(), StatusCode::kParseError,
                 {path_, "head_dim " + std::to_string(head_dim), "sanity limit"});
  }
  j = legacy_llama();
  j["vocab_size"] = int64_t{1} << 40;
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "vocab_size", "sanity limit"});
  j = legacy_llama();
  j["eos_token_id"] = "</s>";
  expect_error(load(j).status(), StatusCode::kParseError, {path_, "eos_token_id"});
  expect_error(load_text("[]").status(), StatusCode::kParseError, {path_, "not an object"});
}

}  // namespace
}  // namespace autoglm

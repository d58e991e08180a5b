#include "api/completion_request.h"

#include <string>

#include <gtest/gtest.h>

namespace autoglm::server {
namespace {

CompletionRequest ok(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  auto parsed = parse_completion_request(body, endpoint);
  if (auto* e = std::get_if<ApiError>(&parsed)) {
    ADD_FAILURE() << body << " -> " << e->message;
    return {};
  }
  return std::get<CompletionRequest>(parsed);
}

ApiError bad(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  auto parsed = parse_completion_request(body, endpoint);
  if (std::holds_alternative<CompletionRequest>(parsed)) {
    ADD_FAILURE() << body << " was accepted";
    return {};
  }
  return std::get<ApiError>(parsed);
}

TEST(CompletionRequest, PromptShapes) {
  EXPECT_EQ(ok(R"({"model":"m","prompt":"hi"})").prompts.at(0).text, "hi");
  const CompletionRequest ids = ok(R"({"model":"m","prompt":[1,2,3]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_TRUE(ids.prompts[0].is_ids);
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  const CompletionRequest many = ok(R"({"model":"m","prompt":["a",[4,5],"b"]})");
  ASSERT_EQ(many.prompts.size(), 3u);
  EXPECT_EQ(many.prompts[1].ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(bad(R"({"model":"m","prompt":[]})").param, "prompt");
  EXPECT_EQ(bad(R"({"model":"m","prompt":[[]]})").param, "prompt[0]");
  EXPECT_EQ(bad(R"({"model":"m","prompt":[1,-2]})").param, "prompt[1]");
  EXPECT_EQ(bad(R"({"model":"m","prompt":5})").param, "prompt");
  EXPECT_EQ(bad(R"({"model":"m"})").param, "prompt");
}

TEST(CompletionRequest, SamplingFieldsAndDefaults) {
  const CompletionRequest d = ok(R"({"model":"m","prompt":"x"})");
  EXPECT_FALSE(d.max_tokens.has_value());
  EXPECT_EQ(d.n, 1);
  EXPECT_EQ(d.sampling.temperature, 1.0f);
  EXPECT_EQ(d.logprobs, -1);
  const CompletionRequest r = ok(
      R"({"model":"m","prompt":"x","max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"min_p":0.1,
          "presence_penalty":1.5,"frequency_penalty":-1,"repetition_penalty":1.1,"seed":-5,"n":3,
          "stop":["a","","b"],"logprobs":2,"echo":true,"user":"u","stream":true,
          "stream_options":{"include_usage":true},"ignore_eos":true,"stop_token_ids":[9],"priority":-1,
          "cache_salt":"s","logit_bias":{},"best_of":3,"suffix":null})");
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.top_k, 3);
  EXPECT_EQ(r.sampling.seed, static_cast<uint64_t>(int64_t{-5}));
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_TRUE(r.echo && r.stream && r.include_usage && r.ignore_eos);
  EXPECT_EQ(r.stop_token_ids, (std::vector<int32_t>{9}));
  EXPECT_EQ(r.priority, -1);
  EXPECT_EQ(r.cache_salt, "s");
}

TEST(CompletionRequest, RejectsWhatOpenAiRejects) {
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","temperature":2.5})").param, "temperature");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","temperature":"hot"})").param, "temperature");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","max_tokens":1.5})").param, "max_tokens");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","max_tokens":1e308})").param, "max_tokens");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","max_tokens":18446744073709551615})").param, "max_tokens");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","n":0})").param, "n");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","n":1000})").param, "n");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","top_p":-0.1})").param, "top_p");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","presence_penalty":3})").param, "presence_penalty");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","stop":7})").param, "stop");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","logprobs":21})").param, "logprobs");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})").param,
            "stream_options");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","best_of":2})").param, "best_of");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","logit_bias":{"5":1}})").param, "logit_bias");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","suffix":"tail"})").param, "suffix");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","frobnicate":1})").message,
            "Unrecognized request argument supplied: frobnicate");
  EXPECT_EQ(bad(R"({"prompt":"x"})").param, "model");
  EXPECT_EQ(bad(R"({"model":3,"prompt":"x"})").param, "model");
}

TEST(CompletionRequest, ChatMessagesAndLogprobs) {
  const CompletionRequest r = ok(
      R"({"model":"m","messages":[{"role":"system","content":"s"},
          {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "max_completion_tokens":4,"logprobs":true,"top_logprobs":3,"chat_template_kwargs":{"x":1}})",
      Endpoint::kChat);
  EXPECT_EQ(r.messages_json, R"([{"content":"s","role":"system"},{"content":"ab","role":"user"}])");
  EXPECT_EQ(*r.max_tokens, 4);
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_EQ(r.chat_template_kwargs_json, R"({"x":1})");
  EXPECT_EQ(ok(R"({"model":"m","messages":[{"role":"user","content":"a"}],"logprobs":true})", Endpoint::kChat)
                .logprobs,
            0);
  EXPECT_EQ(
      bad(R"({"model":"m","messages":[{"role":"user","content":"a"}],"top_logprobs":2})", Endpoint::kChat)
          .param,
      "top_logprobs");
  EXPECT_EQ(bad(R"({"model":"m","messages":[]})", Endpoint::kChat).param, "messages");
  EXPECT_EQ(bad(R"({"model":"m","messages":[{"role":"wizard","content":"a"}]})", Endpoint::kChat).param,
            "messages[0].role");
  EXPECT_EQ(bad(R"({"model":"m","messages":[{"role":"user"}]})", Endpoint::kChat).param, "messages[0]");
  EXPECT_EQ(
      bad(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", Endpoint::kChat)
          .param,
      "messages[0].content[0]");
  // Completion-only fields are unknown to chat, and the other way round.
  EXPECT_EQ(
      bad(R"({"model":"m","messages":[{"role":"user","content":"a"}],"echo":true})", Endpoint::kChat).param,
      "echo");
  EXPECT_EQ(bad(R"({"model":"m","prompt":"x","messages":[]})").param, "messages");
}

TEST(CompletionRequest, HostileBodies) {
  EXPECT_EQ(bad("").http_status, 400);
  EXPECT_EQ(bad("{").http_status, 400);
  EXPECT_EQ(bad("[1,2]").http_status, 400);
  EXPECT_EQ(bad(std::string(100000, '[')).http_status, 400);
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[","b":[{}]})"), 3);
  // Invalid UTF-8 inside a string is a JSON error, reported without throwing.
  EXPECT_EQ(bad("{\"model\":\"m\",\"prompt\":\"\xff\xfe\"}").http_status, 400);
  EXPECT_FALSE(bad(R"({"model":"m","prompt":"x","stop":[)" + std::string(2000, 'a') + "]}").message.empty());
}

}  // namespace
}  // namespace autoglm::server

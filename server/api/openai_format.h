// JSON pieces of OpenAI responses shared by the completion and chat endpoints: usage, logprobs in both
// endpoint shapes, finish reasons, ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autoglm/async_engine.h"

namespace autoglm::server {

// "stop", "length"; a cancelled request reports "abort" (vLLM's word).
const char* finish_reason_text(FinishReason reason);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// The text of token `id` as logprobs show it (special tokens spelled out), read as the continuation of the
// token before it (`previous`, -1 for none): SentencePiece's word-initial space is kept.
std::string token_text(const Engine& engine, int32_t previous, int32_t id);

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}. `previous`: the
// token before tokens[0].
nlohmann::json chat_logprobs_json(const Engine& engine, int32_t previous, const std::vector<int32_t>& tokens,
                                  const std::vector<TokenLogprobs>& logprobs);

// Completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}; offsets count from text_offset0.
nlohmann::json completion_logprobs_json(const Engine& engine, int32_t previous,
                                        const std::vector<int32_t>& tokens,
                                        const std::vector<TokenLogprobs>& logprobs, int64_t text_offset0);

// A random id with the endpoint's prefix: "cmpl-..." or "chatcmpl-...".
std::string new_response_id(const char* prefix);

// One SSE event: "data: <json>\n\n".
std::string sse_event(const nlohmann::json& payload);

// JSON text of a value built from client data: invalid UTF-8 is replaced, never thrown.
std::string dump_json(const nlohmann::json& value);

}  // namespace autoglm::server

// The bodies of POST /v1/completions and POST /v1/chat/completions, parsed and validated into plain data.
// Pure functions of the body text (no engine, no I/O), so they are unit-tested and fuzzed on their own.
//
// Fields: those of the OpenAI API that generation honours, plus vLLM's sampling extensions (top_k, min_p,
// repetition_penalty, ignore_eos, stop_token_ids, skip_special_tokens, priority, cache_salt,
// chat_template_kwargs, add_generation_prompt). Fields OpenAI accepts that change nothing here (store,
// metadata, service_tier, parallel_tool_calls, user...) are accepted; a field this server does not know is
// rejected the way OpenAI rejects one ("Unrecognized request argument supplied"), and so is a known field
// whose requested behaviour would be silently ignored (logit_bias, a JSON response_format, suffix, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "autoglm/sampling_params.h"

namespace autoglm::server {

enum class Endpoint { kCompletions, kChat };

// One prompt of /v1/completions: text, or token ids.
struct PromptInput {
  std::string text;
  std::vector<int32_t> ids;
  bool is_ids = false;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::vector<PromptInput> prompts;  // completions: one or more (choices are numbered prompt-major)
  std::string messages_json;         // chat: the messages, content parts joined into text
  std::string tools_json;            // chat: "tools" as given, for the template ("" when absent)
  std::string chat_template_kwargs_json;
  bool add_generation_prompt = true;
  std::optional<int32_t> max_tokens;  // absent: up to the context
  int32_t n = 1;
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  bool echo = false;  // completions: the prompt text before the generated text
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // -1: none. Completions: logprobs N (0..5, the N most likely alternatives). Chat: logprobs true with
  // top_logprobs N (0..20).
  int32_t logprobs = -1;
  int32_t priority = 0;
  std::string cache_salt;
  std::string user;
};

// Limits the server enforces on every request (beyond the body size, checked before parsing).
struct RequestLimits {
  int32_t max_n = 16;
  int32_t max_prompts = 64;  // prompts in one /v1/completions request
  int32_t max_stop = 16;     // stop strings
  size_t max_stop_bytes = 1024;
  int32_t max_json_depth = 64;
};

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint,
                                                                   const RequestLimits& limits = {});

// Depth of the deepest array / object in a JSON text, counted without parsing it (strings skipped), so a
// hostile body is refused before the parser recurses into it.
int32_t json_nesting_depth(std::string_view text);

}  // namespace autoglm::server

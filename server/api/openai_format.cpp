#include "api/openai_format.h"

#include <cmath>
#include <random>

#include <fmt/format.h>

namespace autoglm::server {

using json = nlohmann::json;

namespace {

// JSON has no infinity; -9999 is what OpenAI-compatible servers report for an impossible token.
double finite_logprob(float logprob) {
  return std::isfinite(logprob) ? static_cast<double>(logprob) : -9999.0;
}

json bytes_of(const std::string& s) {
  json bytes = json::array();
  for (unsigned char c : s)
    bytes.push_back(static_cast<int>(c));
  return bytes;
}

}  // namespace

const char* finish_reason_text(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "abort";
  }
  return "stop";
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

std::string token_text(const Engine& engine, int32_t previous, int32_t id) {
  std::string alone;
  if (!engine.detokenize({id}, /*skip_special=*/false, &alone).is_ok())
    return "token_id:" + std::to_string(id);
  if (previous < 0) return alone;
  // What the token adds after its left neighbour; a decoder that rewrites the boundary falls back to the
  // token alone.
  std::string before, both;
  if (!engine.detokenize({previous}, false, &before).is_ok() ||
      !engine.detokenize({previous, id}, false, &both).is_ok() || both.compare(0, before.size(), before) != 0)
    return alone;
  return both.substr(before.size());
}

json chat_logprobs_json(const Engine& engine, int32_t previous, const std::vector<int32_t>& tokens,
                        const std::vector<TokenLogprobs>& logprobs) {
  json content = json::array();
  for (size_t i = 0; i < tokens.size() && i < logprobs.size(); ++i) {
    const int32_t left = i == 0 ? previous : tokens[i - 1];
    const std::string text = token_text(engine, left, tokens[i]);
    json top = json::array();
    for (const TokenLogprob& t : logprobs[i].top) {
      const std::string alt = token_text(engine, left, t.token);
      top.push_back({{"token", alt}, {"logprob", finite_logprob(t.logprob)}, {"bytes", bytes_of(alt)}});
    }
    content.push_back({{"token", text},
                       {"logprob", finite_logprob(logprobs[i].chosen.logprob)},
                       {"bytes", bytes_of(text)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json completion_logprobs_json(const Engine& engine, int32_t previous, const std::vector<int32_t>& tokens,
                              const std::vector<TokenLogprobs>& logprobs, int64_t text_offset0) {
  json out_tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  int64_t offset = text_offset0;
  for (size_t i = 0; i < tokens.size() && i < logprobs.size(); ++i) {
    const int32_t left = i == 0 ? previous : tokens[i - 1];
    const std::string text = token_text(engine, left, tokens[i]);
    out_tokens.push_back(text);
    token_logprobs.push_back(finite_logprob(logprobs[i].chosen.logprob));
    // The chosen token always appears among the alternatives, as vLLM reports them.
    json top = json::object();
    top[text] = finite_logprob(logprobs[i].chosen.logprob);
    for (const TokenLogprob& t : logprobs[i].top)
      top[token_text(engine, left, t.token)] = finite_logprob(t.logprob);
    top_logprobs.push_back(std::move(top));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
  }
  return {{"tokens", std::move(out_tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

std::string new_response_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& payload) {
  return "data: " + dump_json(payload) + "\n\n";
}

}  // namespace autoglm::server

#include "api/completion_request.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

namespace autoglm::server {
namespace {

using json = nlohmann::json;
using Result = std::variant<CompletionRequest, ApiError>;

// Validation fails by throwing this inside the parser only; parse_completion_request turns it into a value.
struct Invalid {
  ApiError error;
};

[[noreturn]] void fail(const std::string& param, const std::string& message) {
  throw Invalid{invalid_request(message, param)};
}

const char* type_name(const json& v) {
  return v.type_name();
}

bool get_bool(const json& v, const std::string& param) {
  if (!v.is_boolean()) fail(param, "'" + param + "' must be a boolean, not " + type_name(v) + ".");
  return v.get<bool>();
}

int64_t get_int(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer())
    fail(param, "'" + param + "' must be an integer, not " + std::string(type_name(v)) + ".");
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(param, "'" + param + "' is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "].");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    fail(param, "'" + param + "' is " + std::to_string(x) + "; it must be in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "].");
  return x;
}

float get_float(const json& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) fail(param, "'" + param + "' must be a number, not " + std::string(type_name(v)) + ".");
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    fail(param, "'" + param + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "].");
  return static_cast<float>(x);
}

std::string get_string(const json& v, const std::string& param) {
  if (!v.is_string()) fail(param, "'" + param + "' must be a string, not " + std::string(type_name(v)) + ".");
  return v.get<std::string>();
}

std::vector<int32_t> get_ids(const json& v, const std::string& param) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    ids.push_back(static_cast<int32_t>(
        get_int(v[i], param + "[" + std::to_string(i) + "]", 0, std::numeric_limits<int32_t>::max())));
  }
  return ids;
}

bool all_integers(const json& a) {
  for (const json& x : a)
    if (!x.is_number_integer()) return false;
  return true;
}

std::vector<PromptInput> parse_prompt(const json& v, const RequestLimits& limits) {
  const std::string p = "prompt";
  std::vector<PromptInput> prompts;
  auto text = [](std::string s) { return PromptInput{std::move(s), {}, false}; };
  auto ids = [](std::vector<int32_t> i) { return PromptInput{{}, std::move(i), true}; };
  if (v.is_string()) return {text(v.get<std::string>())};
  if (!v.is_array() || v.empty())
    fail(p,
         "'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays.");
  if (all_integers(v)) return {ids(get_ids(v, p))};
  if (static_cast<int64_t>(v.size()) > limits.max_prompts)
    fail(p, "'prompt' holds " + std::to_string(v.size()) + " prompts; at most " +
                std::to_string(limits.max_prompts) + " are allowed.");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string pi = p + "[" + std::to_string(i) + "]";
    if (v[i].is_string()) {
      prompts.push_back(text(v[i].get<std::string>()));
    } else if (v[i].is_array() && !v[i].empty() && all_integers(v[i])) {
      prompts.push_back(ids(get_ids(v[i], pi)));
    } else {
      fail(pi, "'" + pi + "' must be a string or a non-empty array of token ids.");
    }
  }
  return prompts;
}

// Content of a message: a string, null, or text parts [{"type": "text", "text": "..."}] joined.
json message_content(const json& v, const std::string& param) {
  if (v.is_string() || v.is_null()) return v;
  if (!v.is_array()) fail(param, "'" + param + "' must be a string or an array of content parts.");
  std::string joined;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string pi = param + "[" + std::to_string(i) + "]";
    const json& part = v[i];
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      fail(pi, "'" + pi + "' must be an object with a string 'type'.");
    if (part["type"] != "text")
      fail(pi,
           "Content parts of type '" + part["type"].get<std::string>() + "' are not supported; only 'text'.");
    if (!part.contains("text")) fail(pi, "'" + pi + "' has no 'text'.");
    joined += get_string(part["text"], pi + ".text");
  }
  return joined;
}

std::string parse_messages(const json& v) {
  if (!v.is_array() || v.empty()) fail("messages", "'messages' must be a non-empty array.");
  json out = json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string pi = "messages[" + std::to_string(i) + "]";
    const json& m = v[i];
    if (!m.is_object()) fail(pi, "'" + pi + "' must be an object.");
    if (!m.contains("role")) fail(pi, "'" + pi + "' has no 'role'.");
    const std::string role = get_string(m["role"], pi + ".role");
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer")
      fail(pi + ".role", "Unknown role '" + role + "' in " + pi + ".");
    json message = m;
    if (m.contains("content")) {
      message["content"] = message_content(m["content"], pi + ".content");
    } else if (role != "assistant") {
      fail(pi, "'" + pi + "' has no 'content'.");
    }
    if (m.contains("name")) (void)get_string(m["name"], pi + ".name");
    out.push_back(std::move(message));
  }
  return out.dump();
}

std::vector<std::string> parse_stop(const json& v, const RequestLimits& limits) {
  std::vector<std::string> stops;
  if (v.is_null()) return stops;
  if (v.is_string()) {
    if (!v.get<std::string>().empty()) stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (static_cast<int64_t>(v.size()) > limits.max_stop)
      fail("stop", "'stop' holds " + std::to_string(v.size()) + " strings; at most " +
                       std::to_string(limits.max_stop) + " are allowed.");
    for (size_t i = 0; i < v.size(); ++i) {
      std::string s = get_string(v[i], "stop[" + std::to_string(i) + "]");
      if (!s.empty()) stops.push_back(std::move(s));
    }
  } else {
    fail("stop", "'stop' must be a string or an array of strings.");
  }
  for (const std::string& s : stops) {
    if (s.size() > limits.max_stop_bytes)
      fail("stop", "A stop string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes.");
  }
  return stops;
}

void require_null_or_empty(const json& v, const std::string& param, const std::string& why) {
  const bool empty = v.is_null() || (v.is_object() && v.empty()) || (v.is_array() && v.empty()) ||
                     (v.is_string() && v.get<std::string>().empty());
  if (!empty) fail(param, "'" + param + "' is not supported: " + why);
}

// One entry per accepted field: applies the value to the request. Fields whose meaning depends on another
// (top_logprobs on logprobs, stream_options on stream) are checked after all fields are read.
struct Deferred {
  std::optional<int64_t> top_logprobs;
  bool chat_logprobs = false;
  std::optional<int64_t> max_completion_tokens;
  bool has_stream_options = false;
  std::optional<int64_t> best_of;
};
// The request being filled, with the fields that are checked once every field was read.
struct Draft : CompletionRequest {
  Deferred d;
};
using FieldFn = std::function<void(const json&, Draft&, const RequestLimits&)>;
using FieldTable = std::map<std::string, FieldFn, std::less<>>;

FieldTable common_fields() {
  FieldTable t;
  t["model"] = [](const json& v, Draft& r, const RequestLimits&) { r.model = get_string(v, "model"); };
  t["max_tokens"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.max_tokens = static_cast<int32_t>(get_int(v, "max_tokens", 1, 1 << 30));
  };
  t["n"] = [](const json& v, Draft& r, const RequestLimits& l) {
    if (!v.is_null()) r.n = static_cast<int32_t>(get_int(v, "n", 1, l.max_n));
  };
  t["temperature"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.temperature = get_float(v, "temperature", 0.0, 2.0);
  };
  t["top_p"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.top_p = get_float(v, "top_p", 0.0, 1.0);
  };
  t["top_k"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.top_k = static_cast<int32_t>(get_int(v, "top_k", -1, 1 << 30));
  };
  t["min_p"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.min_p = get_float(v, "min_p", 0.0, 1.0);
  };
  t["presence_penalty"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.presence_penalty = get_float(v, "presence_penalty", -2.0, 2.0);
  };
  t["frequency_penalty"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.frequency_penalty = get_float(v, "frequency_penalty", -2.0, 2.0);
  };
  t["repetition_penalty"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.sampling.repetition_penalty = get_float(v, "repetition_penalty", 0.01, 10.0);
  };
  t["seed"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null())
      r.sampling.seed = static_cast<uint64_t>(
          get_int(v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
  };
  t["stop"] = [](const json& v, Draft& r, const RequestLimits& l) { r.stop = parse_stop(v, l); };
  t["stop_token_ids"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null()) return;
    if (!v.is_array()) fail("stop_token_ids", "'stop_token_ids' must be an array of token ids.");
    r.stop_token_ids = get_ids(v, "stop_token_ids");
  };
  t["ignore_eos"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.ignore_eos = get_bool(v, "ignore_eos");
  };
  t["skip_special_tokens"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.skip_special_tokens = get_bool(v, "skip_special_tokens");
  };
  t["stream"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.stream = get_bool(v, "stream");
  };
  t["stream_options"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null()) return;
    if (!v.is_object()) fail("stream_options", "'stream_options' must be an object.");
    r.d.has_stream_options = true;
    for (const auto& [key, value] : v.items()) {
      if (key == "include_usage") {
        r.include_usage = get_bool(value, "stream_options.include_usage");
      } else if (key != "continuous_usage_stats") {
        fail("stream_options", "Unrecognized request argument supplied: stream_options." + key);
      }
    }
  };
  t["user"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.user = get_string(v, "user");
  };
  t["priority"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.priority = static_cast<int32_t>(get_int(v, "priority", -(1 << 20), 1 << 20));
  };
  t["cache_salt"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.cache_salt = get_string(v, "cache_salt");
  };
  t["logit_bias"] = [](const json& v, Draft& r, const RequestLimits&) {
    require_null_or_empty(v, "logit_bias", "token biases are not applied by this server.");
  };
  t["best_of"] = [](const json& v, Draft& r, const RequestLimits& l) {
    if (!v.is_null()) r.d.best_of = get_int(v, "best_of", 1, l.max_n);
  };
  // Accepted and without effect on generation.
  for (const char* name : {"store", "metadata", "service_tier"})
    t[name] = [](const json&, Draft& r, const RequestLimits&) {};
  return t;
}

FieldTable completion_fields() {
  FieldTable t = common_fields();
  t["prompt"] = [](const json& v, Draft& r, const RequestLimits& l) { r.prompts = parse_prompt(v, l); };
  t["echo"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.echo = get_bool(v, "echo");
  };
  t["logprobs"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.logprobs = static_cast<int32_t>(get_int(v, "logprobs", 0, 20));
  };
  t["suffix"] = [](const json& v, Draft& r, const RequestLimits&) {
    require_null_or_empty(v, "suffix", "insertion (fill-in-the-middle) is not implemented.");
  };
  return t;
}

FieldTable chat_fields() {
  FieldTable t = common_fields();
  t["messages"] = [](const json& v, Draft& r, const RequestLimits&) { r.messages_json = parse_messages(v); };
  t["max_completion_tokens"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.d.max_completion_tokens = get_int(v, "max_completion_tokens", 1, 1 << 30);
  };
  t["logprobs"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.d.chat_logprobs = get_bool(v, "logprobs");
  };
  t["top_logprobs"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.d.top_logprobs = get_int(v, "top_logprobs", 0, 20);
  };
  t["tools"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null()) return;
    if (!v.is_array()) fail("tools", "'tools' must be an array.");
    if (!v.empty()) r.tools_json = v.dump();
  };
  t["tool_choice"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null() || v == "none" || v == "auto") return;
    fail("tool_choice", "'tool_choice' may be \"none\" or \"auto\"; forcing a tool call is not supported.");
  };
  t["parallel_tool_calls"] = [](const json&, Draft& r, const RequestLimits&) {};
  t["response_format"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null()) return;
    if (!v.is_object() || !v.contains("type") || v["type"] != "text")
      fail("response_format", "Only the 'text' response format is supported.");
  };
  t["chat_template_kwargs"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (v.is_null()) return;
    if (!v.is_object()) fail("chat_template_kwargs", "'chat_template_kwargs' must be an object.");
    r.chat_template_kwargs_json = v.dump();
  };
  t["add_generation_prompt"] = [](const json& v, Draft& r, const RequestLimits&) {
    if (!v.is_null()) r.add_generation_prompt = get_bool(v, "add_generation_prompt");
  };
  return t;
}

const FieldTable& fields_of(Endpoint endpoint) {
  static const FieldTable completions = completion_fields();
  static const FieldTable chat = chat_fields();
  return endpoint == Endpoint::kChat ? chat : completions;
}

CompletionRequest parse_or_throw(std::string_view body, Endpoint endpoint, const RequestLimits& limits) {
  if (json_nesting_depth(body) > limits.max_json_depth)
    fail("", "The request body nests deeper than " + std::to_string(limits.max_json_depth) + " levels.");
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Parse again for the position of the error, which the non-throwing parse does not report.
    try {
      const json again = json::parse(body);
    } catch (const json::parse_error& e) {
      fail("", std::string("The request body is not valid JSON: ") + e.what());
    }
    fail("", "The request body is not valid JSON.");
  }
  if (!root.is_object()) fail("", "The request body must be a JSON object.");

  Draft r;
  r.endpoint = endpoint;
  const Deferred& d = r.d;
  const FieldTable& table = fields_of(endpoint);
  for (const auto& [key, value] : root.items()) {
    auto it = table.find(key);
    if (it == table.end()) fail(key, "Unrecognized request argument supplied: " + key);
    it->second(value, r, limits);
  }

  if (r.model.empty() && !root.contains("model")) fail("model", "'model' is required.");
  if (endpoint == Endpoint::kCompletions && r.prompts.empty()) fail("prompt", "'prompt' is required.");
  if (endpoint == Endpoint::kChat && r.messages_json.empty()) fail("messages", "'messages' is required.");
  if (d.max_completion_tokens) r.max_tokens = static_cast<int32_t>(*d.max_completion_tokens);
  if (endpoint == Endpoint::kChat) {
    if (d.top_logprobs && !d.chat_logprobs)
      fail("top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
    if (d.chat_logprobs) r.logprobs = static_cast<int32_t>(d.top_logprobs.value_or(0));
  }
  if (d.has_stream_options && !r.stream)
    fail("stream_options", "'stream_options' is only allowed when 'stream' is true.");
  if (d.best_of && *d.best_of != r.n)
    fail("best_of", "'best_of' other than 'n' is not supported: every generated choice is returned.");
  if (static_cast<int64_t>(r.n) * std::max<int64_t>(static_cast<int64_t>(r.prompts.size()), 1) >
      int64_t{limits.max_n} * 4)
    fail("n", "'n' times the number of prompts asks for too many choices.");
  return static_cast<CompletionRequest&&>(std::move(r));
}

}  // namespace

int32_t json_nesting_depth(std::string_view text) {
  int32_t depth = 0;
  int32_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint,
                                                                   const RequestLimits& limits) {
  try {
    return parse_or_throw(body, endpoint, limits);
  } catch (const Invalid& e) {
    return e.error;
  } catch (const std::exception& e) {
    // nlohmann's type errors and the like: a value of a shape the checks above did not anticipate.
    return invalid_request(std::string("Invalid request: ") + e.what());
  }
}

}  // namespace autoglm::server

#include "tokenizer/chat/chat_template.h"

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/parser.h"

namespace autoglm {
namespace {

using jinja::Dict;
using jinja::Value;

// The global functions, shared by every render (they hold no state).
const std::shared_ptr<jinja::Frame>& builtin_globals() {
  static const std::shared_ptr<jinja::Frame> globals = [] {
    auto frame = std::make_shared<jinja::Frame>(nullptr);
    jinja::add_global_functions(*frame);
    return frame;
  }();
  return globals;
}

// HF's message preprocessing (apply_chat_template's _normalize_chat_messages, then render_jinja_template's
// _alias_reasoning_fields): null-valued keys are dropped; the first non-null of reasoning_content, thinking,
// reasoning becomes {"thinking": r, **message, "reasoning_content": r}.
Expected<Value> normalize_messages(const Value& messages) {
  if (!messages.is_list())
    return invalid_argument("chat messages must be a list, not " + jinja::py_type_name(messages));
  std::vector<Value> out;
  out.reserve(messages.as_list().size());
  for (const Value& message : messages.as_list()) {
    if (!message.is_dict()) {
      return invalid_argument("TypeError: Chat messages should be dicts, but got " +
                              jinja::py_repr(message, 200) + ".");
    }
    Dict kept;
    for (const auto& [key, value] : message.as_dict()) {
      if (!value.is_none()) kept.set(key, value);
    }
    const Value* reasoning = nullptr;
    for (std::string_view field : {"reasoning_content", "thinking", "reasoning"}) {
      if ((reasoning = kept.find(field)) != nullptr) break;
    }
    if (reasoning != nullptr) {
      const Value r = *reasoning;
      Dict aliased;
      aliased.set("thinking", r);
      for (const auto& [key, value] : kept)
        aliased.set(key, value);
      aliased.set("reasoning_content", r);
      kept = std::move(aliased);
    }
    out.push_back(Value::dict(std::move(kept)));
  }
  return Value::list(std::move(out));
}

std::tm local_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

// Fills tm_wday and tm_yday of a broken-down date (days-from-civil), leaving the fields a caller set.
std::tm normalized(std::tm tm) {
  const int64_t y = static_cast<int64_t>(tm.tm_year) + 1900 - (tm.tm_mon < 2 ? 1 : 0);
  const int64_t m = tm.tm_mon + 1;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + tm.tm_mday - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;  // days since 1970-01-01, a Thursday
  tm.tm_wday = static_cast<int>(((days % 7) + 11) % 7);
  static const int kCumulative[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  const int year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  tm.tm_yday = kCumulative[tm.tm_mon % 12] + tm.tm_mday - 1 + (leap && tm.tm_mon > 1 ? 1 : 0);
  return tm;
}

}  // namespace

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  AUTOGLM_ASSIGN_OR_RETURN(auto parsed, jinja::parse_template(source));
  return ChatTemplate(std::move(parsed));
}

Expected<std::string> ChatTemplate::render(const Value& messages, const Value& tools,
                                           const ChatRenderOptions& options) const {
  AUTOGLM_ASSIGN_OR_RETURN(Value chat, normalize_messages(messages));
  auto context = std::make_shared<jinja::Frame>(builtin_globals());
  if (options.bos_token) context->set("bos_token", Value(*options.bos_token));
  if (options.eos_token) context->set("eos_token", Value(*options.eos_token));
  for (const auto& [key, value] : options.kwargs) {
    if (!key.is_string()) return invalid_argument("chat template keyword argument names must be strings");
    const std::string& name = key.as_string();
    if (name == "messages" || name == "tools" || name == "add_generation_prompt") {
      return invalid_argument("chat template keyword argument '" + name + "' is reserved");
    }
    context->set(name, value);
  }
  context->set("messages", chat);
  context->set("tools", tools.is_undefined() ? Value::none() : tools);
  if (context->find_local("documents") == nullptr) context->set("documents", Value::none());
  context->set("add_generation_prompt", Value(options.add_generation_prompt));

  jinja::RenderLimits limits;
  limits.max_steps = options.limits.max_steps;
  limits.max_loop_iterations = options.limits.max_loop_iterations;
  limits.max_call_depth = options.limits.max_call_depth;
  limits.max_output_bytes = options.limits.max_output_bytes;
  jinja::Interpreter interpreter(*parsed_, limits, options.now ? normalized(*options.now) : local_now());
  return interpreter.render(std::move(context));
}

Expected<std::string> ChatTemplate::render_json(std::string_view messages_json, std::string_view tools_json,
                                                const ChatRenderOptions& options) const {
  Expected<Value> messages = jinja::value_from_json(messages_json);
  if (!messages.has_value()) return messages.status().with_context("chat messages");
  Value tools = Value::none();
  if (!tools_json.empty()) {
    Expected<Value> parsed = jinja::value_from_json(tools_json);
    if (!parsed.has_value()) return parsed.status().with_context("chat tools");
    tools = std::move(parsed).value();
  }
  return render(*messages, tools, options);
}

}  // namespace autoglm

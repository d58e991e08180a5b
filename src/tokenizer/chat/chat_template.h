// Chat templates: the Jinja2 programs in tokenizer_config.json / chat_template.jinja that turn a conversation
// into the model's prompt text. Rendering is byte-for-byte what HF transformers' apply_chat_template(...,
// tokenize=False) produces: the same jinja2 semantics (trim_blocks, lstrip_blocks, loopcontrols, the
// immutable sandbox, default Undefined), HF's tojson / raise_exception / strftime_now / namespace, and the
// same message preprocessing (keys whose value is null are dropped; reasoning given as `reasoning_content`,
// `thinking` or `reasoning` is copied to both `reasoning_content` and `thinking`).
//
// A ChatTemplate is parsed once and immutable: render() may be called from many threads at once; it recurses
// over the template (bounded: at most about 1.5 MB of stack for the most deeply nested templates). Errors are
// Status values: kParseError for syntax errors ("line 3, column 7: ..."), kInvalidArgument for conversations
// the template rejects (raise_exception's message, verbatim) and for runtime errors (with position and the
// Python error name: "line 9, column 12: TypeError: ..."), kOutOfRange for Python's OverflowError (range()
// beyond the sandbox's 100000 items, integers beyond 64 bits), kUnsupported for loader tags, and
// kResourceExhausted when a render exceeds its limits.
//
// Not supported (no real chat template uses them): {% include %}, {% import %}, {% from %}, {% extends %}
// (HF has no template loader either); integers beyond 64 bits; complex numbers; the filters groupby, pprint,
// random, striptags, urlencode, urlize, wordwrap, xmlattr, filesizeformat and the lipsum global. Case mapping
// is Unicode's simple one (plus 'ß' -> "SS"). A few Python-only objects print differently: dict.items() /
// keys() / values() and range() are lists here (Python prints "dict_items([...])", "range(0, 3)"), escape's
// Markup is a plain str inside a repr, and bound methods print without an address.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/chat/value.h"

namespace autoglm {

namespace jinja {
struct ParsedTemplate;
}

// Bounds on one render, so that a hostile or broken template cannot hang or exhaust the server.
struct ChatRenderLimits {
  int64_t max_steps = 20'000'000;           // expression and statement evaluations
  int64_t max_loop_iterations = 2'000'000;  // for-loop iterations, all loops together
  int max_call_depth = 100;                 // nested macro calls and recursive loops
  size_t max_output_bytes = 32u << 20;      // the output, and any string or list the template builds
};

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  // Unset: the template sees them undefined (HF passes only the special tokens the tokenizer has).
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // Extra template variables (HF's **kwargs): enable_thinking, reasoning_effort, builtin_tools, documents...
  // They override bos_token/eos_token; the names messages, tools and add_generation_prompt are refused.
  jinja::Dict kwargs;
  // The time strftime_now() formats; unset: the local time when render() starts.
  std::optional<std::tm> now;
  ChatRenderLimits limits;
};

class ChatTemplate {
 public:
  static Expected<ChatTemplate> parse(std::string_view source);

  // messages: a list of dicts (role, content, tool_calls, reasoning_content...). tools: a list of tool
  // schemas, or none / undefined for "no tools" (the template then sees tools=None, as with HF).
  Expected<std::string> render(const jinja::Value& messages, const jinja::Value& tools,
                               const ChatRenderOptions& options) const;
  // The same with messages and tools as JSON text (an OpenAI request's "messages" and "tools" arrays);
  // empty tools_json means no tools.
  Expected<std::string> render_json(std::string_view messages_json, std::string_view tools_json,
                                    const ChatRenderOptions& options) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::ParsedTemplate> parsed) : parsed_(std::move(parsed)) {}
  std::shared_ptr<const jinja::ParsedTemplate> parsed_;
};

// The chat template and special tokens of an HF tokenizer_config.json (or a processor's chat_template.json).
struct ChatTemplateConfig {
  std::string chat_template;
  std::optional<std::string> bos_token;  // string or {"content": ...} in the file; unset when absent or null
  std::optional<std::string> eos_token;
};

// `name` selects among named templates (the list form [{"name": ..., "template": ...}]): "default" unless the
// caller wants e.g. "tool_use". kNotFound when the file has no (such) chat template.
Expected<ChatTemplateConfig> chat_template_from_config(std::string_view config_json,
                                                       std::string_view name = "default");
// Only the BOS/EOS strings of such a file (chat_template left empty), for a template kept in another file.
Expected<ChatTemplateConfig> special_tokens_from_config(std::string_view config_json);

}  // namespace autoglm

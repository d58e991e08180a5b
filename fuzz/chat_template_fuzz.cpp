// Fuzz target: the Jinja chat-template parser and renderer on arbitrary template text, with a conversation
// that exercises the usual variables, under tight limits so runaway templates end quickly.
#include <cstdint>
#include <string_view>

#include "tokenizer/chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = autoglm::ChatTemplate::parse(source);
  if (!tmpl) return 0;
  autoglm::ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.limits.max_steps = 200000;
  options.limits.max_loop_iterations = 20000;
  options.limits.max_output_bytes = 1 << 20;
  (void)tmpl->render_json(
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi \u00e9"},)"
      R"({"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]},)"
      R"({"role":"tool","content":"42"}])",
      R"([{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])", options);
  return 0;
}

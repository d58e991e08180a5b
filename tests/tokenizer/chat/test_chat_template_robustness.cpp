// Runaway protection and robustness: templates that would loop, recurse or allocate without bound fail
// quickly with kResourceExhausted, and random byte edits of the real templates never crash or hang the parser
// or the renderer.
#include <chrono>
#include <random>

#include <gtest/gtest.h>

#include "chat_test_util.h"
#include "tokenizer/chat/chat_template.h"

namespace autoglm::test {
namespace {

using jinja::Value;

Status render_status(std::string_view source, const ChatRenderLimits& limits = {}) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(source);
  if (!tmpl.has_value()) return tmpl.status();
  ChatRenderOptions options;
  options.limits = limits;
  return tmpl->render_json(R"([{"role": "user", "content": "hi"}])", "", options).status();
}

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TEST(ChatTemplateLimits, HugeRangeIsRefusedLikeTheSandbox) {
  const Status s = render_status("{% for i in range(10**9) %}x{% endfor %}");
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("Range too big"), std::string::npos) << s.to_string();
}

TEST(ChatTemplateLimits, NestedLoopsHitTheIterationBound) {
  Stopwatch watch;
  const Status s = render_status(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}{% endfor %}{% "
      "endfor %}"
      "{% endfor %}");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_LT(watch.seconds(), 10.0);
}

TEST(ChatTemplateLimits, StepBoundStopsLongEvaluations) {
  ChatRenderLimits limits;
  limits.max_steps = 10000;
  const Status s = render_status("{% for i in range(100000) %}{{ i + i }}{% endfor %}", limits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
}

TEST(ChatTemplateLimits, DeepRecursionIsStopped) {
  Stopwatch watch;
  const Status s = render_status("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  const Status mutual = render_status(
      "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}");
  EXPECT_EQ(mutual.code(), StatusCode::kResourceExhausted) << mutual.to_string();
  const Status loop = render_status(
      "{% set t = [[[[[[[[[[1]]]]]]]]]] %}{% for x in [t] recursive %}{% if x is iterable %}{{ loop(x) }}"
      "{{ loop([x]) }}{% endif %}{% endfor %}");
  EXPECT_FALSE(loop.is_ok());
  // Deep expressions inside deep statements inside deep recursion: the interpreter's own nesting bound.
  std::string deep = "{% macro f(n) %}";
  for (int i = 0; i < 12; ++i)
    deep += "{% if true %}";
  deep += "{% if n > 0 %}{{ (f(" + std::string(30, '-') + "n - 1) ~ " + std::string(100, '-') +
          "1) }}{% endif %}";
  for (int i = 0; i < 12; ++i)
    deep += "{% endif %}";
  deep += "{% endmacro %}{{ f(99) }}";
  EXPECT_EQ(render_status(deep).code(), StatusCode::kResourceExhausted);
  EXPECT_LT(watch.seconds(), 10.0);
}

TEST(ChatTemplateLimits, OutputAndStringSizesAreBounded) {
  Stopwatch watch;
  ChatRenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  EXPECT_EQ(render_status("{{ 'x' * 10**12 }}", limits).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(render_status("{{ [1] * 10**12 }}", limits).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(
      render_status("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                    "{% endfor %}",
                    limits)
          .code(),
      StatusCode::kResourceExhausted);
  EXPECT_EQ(render_status("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", limits).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(render_status("{{ '{:>999999999}'.format(1) }}", limits).code() == StatusCode::kOk, false);
  // Small values standing for enormous texts: one long string repeated by reference.
  const char* kHuge[] = {
      "{% set s = 'x' * 500000 %}{{ [s] * 100000 }}",
      "{% set s = 'x' * 500000 %}{{ ([s] * 100000) | tojson }}",
      "{% set s = 'x' * 500000 %}{{ ([s] * 100000) | join }}",
      "{% set s = 'x' * 500000 %}{{ '%s' % ([s] * 100000,) }}",
      "{% set s = 'x' * 500000 %}{{ ([s] * 100000) | string | length }}",
      "{% set s = 'x' * 500000 %}{{ '{}'.format([s] * 100000) }}",
      "{% set s = 'x' * 500000 %}{{ s.replace('', 'yyyy') }}",
      "{% set s = 'x' * 500000 %}{{ s | replace('x', s) }}",
      "{% set s = 'x' * 500000 %}{{ s ~ s ~ s }}",
      "{% set s = 'x' * 500000 %}{{ {'k': [s] * 100000} | dictsort }}",
      "{{ [1] | batch(1) | batch(1) | list | tojson(indent=900000) }}",
  };
  for (const char* source : kHuge) {
    EXPECT_EQ(render_status(source, limits).code(), StatusCode::kResourceExhausted) << source;
  }
  EXPECT_LT(watch.seconds(), 10.0);
}

TEST(ChatTemplateLimits, DeeplyNestedValuesAreRefused) {
  const Status s = render_status(
      "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v "
      "| tojson }}");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
}

TEST(ChatTemplateLimits, DeeplyNestedSourceIsAParseError) {
  const std::string parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_FALSE(ChatTemplate::parse(parens).has_value());
  std::string ifs;
  for (int i = 0; i < 5000; ++i)
    ifs += "{% if true %}";
  EXPECT_FALSE(ChatTemplate::parse(ifs).has_value());
  EXPECT_FALSE(ChatTemplate::parse("{{ " + std::string(5000, '-') + "1 }}").has_value());
  EXPECT_FALSE(ChatTemplate::parse("{{ " + std::string(3000, '[') + " }}").has_value());
}

TEST(ChatTemplateLimits, SelfReferencesDoNotLeakOrLoop) {
  // A namespace holding itself and a macro stored in its own scope: rendering ends and frees them.
  EXPECT_TRUE(
      render_status("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me.me is defined }}{{ ns }}")
          .is_ok());
  EXPECT_TRUE(render_status("{% macro m() %}{{ m is defined }}{% endmacro %}{{ m() }}").is_ok());
}

// Random byte edits (replace, insert, delete, duplicate a slice) of every real template, 2,000 iterations:
// parse and render must return (a value or an error) quickly, never crash or hang.
TEST(ChatTemplateFuzz, MutatedRealTemplatesNeverCrashOrHang) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"gemma-3.chat_template.json", "chat_template"},
      {"glm-4.5.jinja", ""},
      {"gpt-oss.jinja", ""},
      {"llama-3.2.jinja", ""},
      {"mistral-nemo.jinja", ""},
      {"phi-4-mini.tokenizer_config.json", "chat_template"},
      {"qwen2.5.tokenizer_config.json", "chat_template"},
      {"qwen3.tokenizer_config.json", "chat_template"},
      {"smollm3.jinja", ""}};
  std::vector<std::string> sources;
  for (const auto& [file, key] : files) {
    const std::string text = read_file(shared_data_dir() + "/chat_templates/" + file);
    if (key.empty()) {
      sources.push_back(text);
    } else {
      Expected<ChatTemplateConfig> config = chat_template_from_config(text);
      ASSERT_TRUE(config.has_value()) << file;
      sources.push_back(config->chat_template);
    }
  }
  const char* kMessages =
      R"([{"role": "system", "content": "sys"}, {"role": "user", "content": "hi ✓"},
          {"role": "assistant", "content": "yo", "reasoning_content": "r",
           "tool_calls": [{"id": "abcdefghi", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
          {"role": "tool", "tool_call_id": "abcdefghi", "content": "out"}, {"role": "user", "content": "again"}])";
  const char* kTools = R"([{"type": "function", "function": {"name": "f", "description": "d",
      "parameters": {"type": "object", "properties": {"a": {"type": "integer", "description": "x"}}, "required": ["a"]}}}])";
  static const char kAlphabet[] = "{}%#-+()[]|~'\"\\ \n.,:=<>*/!abcdefghijklmnopqrstuvwxyz_0123456789é";
  std::mt19937_64 rng(20240611);
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.kwargs.set("enable_thinking", Value(false));
  options.limits.max_steps = 200000;
  options.limits.max_output_bytes = 1 << 20;
  size_t parsed = 0;
  size_t rendered = 0;
  Stopwatch watch;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string s = sources[rng() % sources.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0:
          s[pos] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
          break;
        case 1:
          s.insert(pos, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
          break;
        case 2:
          s.erase(pos, 1 + rng() % 8);
          break;
        case 3: {
          const size_t len = 1 + rng() % 40;
          s.insert(rng() % s.size(), s.substr(pos, len));
          break;
        }
        default:
          s[pos] = static_cast<char>(rng() & 0xFF);  // arbitrary bytes, invalid UTF-8 included
      }
    }
    Expected<ChatTemplate> tmpl = ChatTemplate::parse(s);
    if (!tmpl.has_value()) continue;
    ++parsed;
    Expected<std::string> out = tmpl->render_json(kMessages, (iteration % 2) ? kTools : "", options);
    if (out.has_value()) ++rendered;
  }
  EXPECT_GT(parsed, 100u);
  EXPECT_GT(rendered, 50u);
  EXPECT_LT(watch.seconds(), 60.0);
}

}  // namespace
}  // namespace autoglm::test

// The Jinja2 language, construct by construct, against jinja2 itself:
// tests/data/chat_templates/language.jsonl holds small templates rendered by the reference environment
// (whitespace control, operators, scoping, loops, macros, every filter and test, string methods, errors).
#include <cstdlib>

#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace autoglm::test {
namespace {

using jinja::Value;

void expect_cases_match(const std::string& path) {
  const std::vector<Value> records = read_jsonl(path);
  ASSERT_GE(records.size(), 100u) << path;
  const Value& meta = field(records[0], "meta");
  const std::tm now = fixed_now(meta);
  for (size_t i = 1; i < records.size(); ++i) {
    const Value& c = records[i];
    const std::string name = field(c, "name").as_string();
    const std::string& source = field(c, "template").as_string();
    Expected<std::string> out = render_source(source, field(meta, "context"), now);
    if (field(c, "expected").is_string()) {
      if (!out.has_value()) {
        ADD_FAILURE() << name << ": " << out.status().to_string() << "\n  template: " << source;
        continue;
      }
      EXPECT_EQ(*out, field(c, "expected").as_string()) << name << "\n  template: " << source;
    } else {
      if (out.has_value()) {
        ADD_FAILURE() << name << " rendered " << *out << " but jinja2 fails with "
                      << field(c, "error_type").as_string() << ": " << field(c, "error").as_string()
                      << "\n  template: " << source;
        continue;
      }
      expect_same_error(out.status(), field(c, "error_type").as_string(), field(c, "error").as_string(),
                        name);
    }
  }
}

TEST(JinjaLanguage, MatchesJinja2OnEveryConstruct) {
  expect_cases_match(chat_data_path("language.jsonl"));
}

// Random templates rendered by jinja2. AUTOGLM_JINJA_CASES=<file.jsonl> runs another file of the same format.
TEST(JinjaLanguage, MatchesJinja2OnRandomTemplates) {
  const char* other = std::getenv("AUTOGLM_JINJA_CASES");
  expect_cases_match(other != nullptr ? other : chat_data_path("language_random.jsonl"));
}

std::string render(std::string_view source, const Value& context = Value()) {
  std::tm now{};
  Expected<std::string> out = render_source(source, context, now);
  return out.has_value() ? *out : "ERROR: " + out.status().to_string();
}

// Syntax errors name the line and column of the offending token.
TEST(JinjaLanguage, SyntaxErrorsHavePositions) {
  Expected<std::shared_ptr<const jinja::ParsedTemplate>> parsed =
      jinja::parse_template("line one\n  {{ 1 + }}");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.status().code(), StatusCode::kParseError);
  EXPECT_NE(parsed.status().message().find("line 2, column 10"), std::string::npos)
      << parsed.status().to_string();

  parsed = jinja::parse_template("{% for x in y %}\n{% if x %}\n{% endfor %}");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.status().message().find("line 3"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("Encountered unknown tag 'endfor'"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("'if'"), std::string::npos);

  parsed = jinja::parse_template("ok\n{{ 'é' @ }}");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.status().message().find("line 2, column 8: unexpected char '@'"), std::string::npos)
      << parsed.status().to_string();

  parsed = jinja::parse_template("{% if true %}\nunclosed");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.status().message().find("Unexpected end of template"), std::string::npos);

  parsed = jinja::parse_template("{% include 'x' %}");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.status().code(), StatusCode::kUnsupported);
}

// Runtime errors name the failing expression's position and Python's exception.
TEST(JinjaLanguage, RuntimeErrorsHavePositions) {
  const std::string out = render("a\nb {{ 'x' + 1 }}");
  EXPECT_NE(out.find("line 2, column"), std::string::npos) << out;
  EXPECT_NE(out.find("TypeError: can only concatenate str (not \"int\") to str"), std::string::npos) << out;
  const std::string undefined = render("{% for m in [1] %}\n  {{ m.role.name }}{% endfor %}");
  EXPECT_NE(undefined.find("line 2"), std::string::npos) << undefined;
  EXPECT_NE(undefined.find("UndefinedError: 'int object' has no attribute 'role'"), std::string::npos)
      << undefined;
}

// raise_exception's message comes back verbatim (the server shows it to the client).
TEST(JinjaLanguage, RaiseExceptionMessageIsVerbatim) {
  std::tm now{};
  Expected<std::string> out = render_source("x{{ raise_exception('Roles must alternate') }}", Value(), now);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Roles must alternate");
}

TEST(JinjaLanguage, WhitespaceControl) {
  EXPECT_EQ(render("a  {%- if true %} b {% endif -%}  c"), "a b c");
  EXPECT_EQ(render("x\n    {% if true %}\n    y\n    {% endif %}\nz"), "x\n    y\nz");
  EXPECT_EQ(render("{{ 1 }}\n{{ 2 }}\n"), "1\n2");
  EXPECT_EQ(render("a\r\nb"), "a\nb");
  EXPECT_EQ(render("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
}

TEST(JinjaLanguage, LoopVariables) {
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{% "
                   "endfor %}"),
            "1TrueFalse22FalseTrue1");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}"),
            "-2,1-3,2-,");
}

TEST(JinjaLanguage, NamespaceAcrossLoopIterations) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor "
                   "%}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% set n = 0 %}{% for i in range(4) %}{% set n = n + i %}{% endfor %}{{ n }}"), "0");
}

TEST(JinjaLanguage, MacrosAndCaller) {
  EXPECT_EQ(render("{% macro m(a, b=2) %}{{ a * b }}{% endmacro %}{{ m(3) }} {{ m(3, b=3) }}"), "6 9");
  EXPECT_EQ(render("{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}in{% endcall %}"), "[in]");
}

TEST(JinjaLanguage, ValuesFromJsonKeepKeyOrder) {
  Expected<Value> v =
      jinja::value_from_json(R"({"z": 1, "a": [true, null, 1.5, "é"], "m": {"k": 1}, "z": 2})");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(jinja::py_repr(*v), "{'z': 2, 'a': [True, None, 1.5, 'é'], 'm': {'k': 1}}");
  EXPECT_FALSE(jinja::value_from_json("{\"a\": }").has_value());
  EXPECT_FALSE(jinja::value_from_json(std::string(1000, '[')).has_value());
}

TEST(JinjaLanguage, PythonReprAndStr) {
  EXPECT_EQ(jinja::py_str(Value(1e16)), "1e+16");
  EXPECT_EQ(jinja::py_str(Value(0.1)), "0.1");
  EXPECT_EQ(jinja::py_str(Value(100.0)), "100.0");
  EXPECT_EQ(jinja::py_str(Value(1.5e-5)), "1.5e-05");
  EXPECT_EQ(jinja::py_repr(Value("it's")), "\"it's\"");
  EXPECT_EQ(jinja::py_repr(Value::tuple({Value(1)})), "(1,)");
  EXPECT_EQ(jinja::py_str(Value::none()), "None");
  EXPECT_EQ(jinja::py_str(Value()), "");
}

}  // namespace
}  // namespace autoglm::test

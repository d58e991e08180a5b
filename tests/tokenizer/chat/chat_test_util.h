// Shared helpers of the chat template tests: reading the expectation files written by
// tools/tokenizer/make_chat_expectations.py and rendering the language cases through the interpreter.
#pragma once

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_data.h"
#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/parser.h"
#include "tokenizer/chat/value.h"

namespace autoglm::test {

inline std::string chat_data_path(const std::string& file) {
  return std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/chat_templates/" + file;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The records of a .jsonl expectation file: the header's "meta" object first, then the cases.
inline std::vector<jinja::Value> read_jsonl(const std::string& path) {
  std::vector<jinja::Value> records;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Expected<jinja::Value> v = jinja::value_from_json(line);
    EXPECT_TRUE(v.has_value()) << path << ": " << v.status().to_string();
    if (v.has_value()) records.push_back(std::move(v).value());
  }
  return records;
}

inline const jinja::Value& field(const jinja::Value& record, const char* key) {
  static const jinja::Value kMissing;
  const jinja::Value* v = record.as_dict().find(key);
  return v != nullptr ? *v : kMissing;
}

// The pinned strftime_now() time of the expectation files ("now": [y, m, d, H, M, S]).
inline std::tm fixed_now(const jinja::Value& meta) {
  std::tm tm{};
  const auto& now = field(meta, "now").as_list();
  tm.tm_year = static_cast<int>(now[0].as_int()) - 1900;
  tm.tm_mon = static_cast<int>(now[1].as_int()) - 1;
  tm.tm_mday = static_cast<int>(now[2].as_int());
  tm.tm_hour = static_cast<int>(now[3].as_int());
  tm.tm_min = static_cast<int>(now[4].as_int());
  tm.tm_sec = static_cast<int>(now[5].as_int());
  std::tm copy = tm;
  timegm(&copy);  // fills tm_wday / tm_yday
  tm.tm_wday = copy.tm_wday;
  tm.tm_yday = copy.tm_yday;
  return tm;
}

// Renders a template source with `context` (a dict) as its variables, through the interpreter directly
// (no chat message preprocessing), the way jinja2's Template.render(**context) does.
inline Expected<std::string> render_source(std::string_view source, const jinja::Value& context,
                                           const std::tm& now, const jinja::RenderLimits& limits = {}) {
  AUTOGLM_ASSIGN_OR_RETURN(auto parsed, jinja::parse_template(source));
  auto globals = std::make_shared<jinja::Frame>(nullptr);
  jinja::add_global_functions(*globals);
  auto frame = std::make_shared<jinja::Frame>(globals);
  if (context.is_dict()) {
    for (const auto& [key, value] : context.as_dict())
      frame->set(key.as_string(), value);
  }
  jinja::Interpreter interpreter(*parsed, limits, now);
  return interpreter.render(frame);
}

// Checks a failed render against the Python reference's error: raise_exception messages verbatim, syntax
// errors as kParseError (or kUnsupported for loader tags), runtime errors with the same exception name.
inline void expect_same_error(const Status& status, const std::string& error_type, const std::string& error,
                              const std::string& where) {
  if (error_type == "TemplateError") {
    EXPECT_EQ(status.message(), error) << where;
    return;
  }
  // Loader tags ({% include %}...) are refused at parse time, where jinja2 fails when rendering them.
  if (status.code() == StatusCode::kUnsupported) return;
  if (error_type == "TemplateSyntaxError" || error_type == "TemplateAssertionError" ||
      error_type == "SyntaxError") {
    EXPECT_EQ(status.code(), StatusCode::kParseError)
        << where << ": " << status.to_string() << " (reference: " << error_type << ": " << error << ")";
    return;
  }
  EXPECT_NE(status.message().find(error_type), std::string::npos)
      << where << ": " << status.to_string() << " (reference: " << error_type << ": " << error << ")";
  // Which operand pair a sort reports depends on the sorting algorithm's comparison order.
  const std::string unordered = "not supported between instances of";
  if (error.find(unordered) != std::string::npos) {
    EXPECT_NE(status.message().find(unordered), std::string::npos) << where << ": " << status.to_string();
    return;
  }
  EXPECT_NE(status.message().find(error), std::string::npos)
      << where << ": " << status.to_string() << " (reference: " << error_type << ": " << error << ")";
}

}  // namespace autoglm::test

// The functions templates can call: filters (x | f), tests (x is t), global functions (range, namespace,
// raise_exception...), and the methods of str, list and dict that the sandbox allows. Internal to the chat
// template implementation.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

class Interpreter;
class Frame;

// Evaluated call arguments.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

using FilterFn = Expected<Value> (*)(Interpreter& interp, const Value& input, const Args& args);
using TestFn = Expected<bool> (*)(Interpreter& interp, const Value& input, const Args& args);

// nullptr when the name is unknown.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// Adds range, dict, namespace, cycler, joiner, lipsum, raise_exception and strftime_now.
void add_global_functions(Frame& globals);

// Whether `receiver.name` is a method (Python getattr succeeds) and whether the sandbox allows it (mutating
// methods of list and dict are unsafe).
enum class MethodAccess { kNone, kSafe, kUnsafe };
MethodAccess find_method(const Value& receiver, std::string_view name);
Expected<Value> call_method(Interpreter& interp, const Value& receiver, std::string_view name,
                            const Args& args);

// Python-style binding of Args to named parameters for builtins: positional first, then keywords; too many
// positional arguments, unknown keywords and duplicates are TypeErrors.
class ArgReader {
 public:
  // With `varargs`, positional arguments beyond the parameters go to `rest` instead of failing.
  ArgReader(std::string_view function, const Args& args, std::initializer_list<std::string_view> params,
            bool varargs = false);
  const Status& status() const { return status_; }
  // The argument bound to parameter i, or nullptr.
  const Value* get(size_t i) const { return i < bound_.size() ? bound_[i] : nullptr; }
  Value get_or(size_t i, Value fallback) const;
  bool has(size_t i) const { return get(i) != nullptr; }
  // Positional arguments beyond the parameters (for *args functions), when allowed.
  std::vector<Value> rest;

 private:
  std::vector<const Value*> bound_;
  Status status_;
};

// The filter and test tables of the files that define them (filters_text.cpp, filters_sequence.cpp,
// jinja_tests.cpp), searched by find_filter / find_test.
struct NamedFilter {
  std::string_view name;
  FilterFn fn;
};
struct NamedTest {
  std::string_view name;
  TestFn fn;
};
std::span<const NamedFilter> text_filters();
std::span<const NamedFilter> sequence_filters();
std::span<const NamedTest> builtin_tests();

// Fails when str.replace(old_text, new_text, count) on text would build a string beyond the size limit.
Status check_replace_size(Interpreter& interp, std::string_view text, std::string_view old_text,
                          std::string_view new_text, int64_t count);

// Errors in Python's words ("TypeError: ...").
Status type_error(const std::string& message);
Status value_error(const std::string& message);

}  // namespace autoglm::jinja

#include "tokenizer/chat/builtins.h"

#include <algorithm>

#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {

Status type_error(const std::string& message) {
  return invalid_argument("TypeError: " + message);
}

// `message` already names the Python exception ("ValueError: ...", "ZeroDivisionError: ...").
Status value_error(const std::string& message) {
  return invalid_argument(message);
}

ArgReader::ArgReader(std::string_view function, const Args& args,
                     std::initializer_list<std::string_view> params, bool varargs)
    : bound_(params.size(), nullptr) {
  const std::vector<std::string_view> names(params);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < names.size()) {
      bound_[i] = &args.positional[i];
    } else if (varargs) {
      rest.push_back(args.positional[i]);
    } else {
      status_ = type_error(std::string(function) + "() takes at most " + std::to_string(names.size()) +
                           " argument(s) (" + std::to_string(args.positional.size()) + " given)");
      return;
    }
  }
  for (const auto& [key, value] : args.keywords) {
    size_t j = 0;
    while (j < names.size() && names[j] != key)
      ++j;
    if (j == names.size()) {
      status_ = type_error(std::string(function) + "() got an unexpected keyword argument '" + key + "'");
      return;
    }
    if (bound_[j] != nullptr) {
      status_ = type_error(std::string(function) + "() got multiple values for argument '" + key + "'");
      return;
    }
    bound_[j] = &value;
  }
}

Value ArgReader::get_or(size_t i, Value fallback) const {
  const Value* v = get(i);
  if (v != nullptr) return *v;
  return fallback;
}

Status check_replace_size(Interpreter& interp, std::string_view text, std::string_view old_text,
                          std::string_view new_text, int64_t count) {
  int64_t hits = py::count(text, old_text);
  if (count >= 0) hits = std::min(hits, count);
  const double size = static_cast<double>(text.size()) +
                      static_cast<double>(hits) *
                          (static_cast<double>(new_text.size()) - static_cast<double>(old_text.size()));
  return interp.check_size(size > 1e18 ? SIZE_MAX : static_cast<size_t>(std::max(size, 0.0)));
}

FilterFn find_filter(std::string_view name) {
  for (const NamedFilter& f : text_filters()) {
    if (f.name == name) return f.fn;
  }
  for (const NamedFilter& f : sequence_filters()) {
    if (f.name == name) return f.fn;
  }
  return nullptr;
}

TestFn find_test(std::string_view name) {
  for (const NamedTest& t : builtin_tests()) {
    if (t.name == name) return t.fn;
  }
  return nullptr;
}

}  // namespace autoglm::jinja

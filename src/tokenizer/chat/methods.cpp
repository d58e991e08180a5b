// Methods of str, list, tuple and dict that templates call (message.content.split('</think>'),
// tool.items(), message.get('channel', '')), with Python's semantics. The mutating methods of list and dict
// exist but are refused, as in jinja2's ImmutableSandboxedEnvironment.
#include <algorithm>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_format.h"
#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {
namespace {

constexpr std::string_view kStrMethods[] = {
    "capitalize", "casefold",   "center",       "count",        "endswith",  "find",       "format",
    "index",      "isalnum",    "isalpha",      "isascii",      "isdecimal", "isdigit",    "islower",
    "isnumeric",  "isspace",    "istitle",      "isupper",      "join",      "ljust",      "lower",
    "lstrip",     "partition",  "removeprefix", "removesuffix", "replace",   "rfind",      "rindex",
    "rjust",      "rpartition", "rsplit",       "rstrip",       "split",     "splitlines", "startswith",
    "strip",      "swapcase",   "title",        "upper",        "zfill"};
constexpr std::string_view kListMethods[] = {"copy", "count", "index"};
constexpr std::string_view kTupleMethods[] = {"count", "index"};
constexpr std::string_view kListUnsafe[] = {"append", "clear",  "extend",  "insert",
                                            "pop",    "remove", "reverse", "sort"};
constexpr std::string_view kDictMethods[] = {"copy", "get", "items", "keys", "values"};
constexpr std::string_view kDictUnsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};

template <size_t N>
bool listed(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const std::string& p : parts)
    items.emplace_back(p);
  return Value::list(std::move(items));
}

// s[start:end] for the optional start/end arguments of find, count, startswith...
Expected<std::string> window(const std::string& s, const ArgReader& r, size_t first) {
  if (!r.has(first) && !r.has(first + 1)) return s;
  AUTOGLM_ASSIGN_OR_RETURN(Value sliced, slice_value(Value(s), r.get_or(first, Value::none()),
                                                     r.get_or(first + 1, Value::none()), Value::none()));
  return sliced.as_string();
}

int64_t window_offset(const std::string& s, const ArgReader& r, size_t first) {
  if (!r.has(first) || !(r.get(first)->is_int() || r.get(first)->is_bool())) return 0;
  int64_t start = r.get(first)->as_int();
  const auto n = static_cast<int64_t>(py::length(s));
  if (start < 0) start = std::max<int64_t>(start + n, 0);
  return std::min(start, n);
}

Status need_string(const Value* v, const char* method) {
  if (v == nullptr) return type_error(std::string(method) + "() missing required argument");
  if (!v->is_string()) return type_error(std::string("must be str, not ") + py_type_name(*v));
  return Status::ok();
}

Expected<Value> pad_string(const std::string& s, const ArgReader& r, char align) {
  const Value width = r.get_or(0, Value(int64_t{0}));
  const Value fill = r.get_or(1, Value(" "));
  if (!width.is_int() && !width.is_bool())
    return type_error("'" + py_type_name(width) + "' object cannot be interpreted as an integer");
  if (!fill.is_string() || py::length(fill.as_string()) != 1) {
    return type_error("The fill character must be exactly one character long");
  }
  const auto len = static_cast<int64_t>(py::length(s));
  const int64_t w = std::min<int64_t>(width.as_int(), 1 << 20);
  if (w <= len) return Value(s);
  const int64_t margin = w - len;
  int64_t left = align == '>' ? margin : align == '<' ? 0 : margin / 2 + (margin & w & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i)
    out += fill.as_string();
  out += s;
  for (int64_t i = left; i < margin; ++i)
    out += fill.as_string();
  return Value(std::move(out));
}

template <typename Pred>
Value all_chars(const std::string& s, Pred pred) {
  if (s.empty()) return Value(false);
  for (size_t pos = 0; pos < s.size();) {
    const utf8::Decoded d = utf8::decode(s, pos);
    if (!pred(d.code_point)) return Value(false);
    pos += d.length;
  }
  return Value(true);
}

Expected<Value> affix_test(const std::string& s, const ArgReader& r, bool prefix) {
  if (!r.has(0)) return type_error("startswith() missing required argument");
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, window(s, r, 1));
  std::vector<Value> candidates;
  if (r.get(0)->is_tuple()) {
    candidates = r.get(0)->as_list();
  } else {
    candidates.push_back(*r.get(0));
  }
  for (const Value& c : candidates) {
    if (!c.is_string()) {
      return type_error(std::string(prefix ? "startswith" : "endswith") +
                        " first arg must be str or a tuple of str, not " + py_type_name(c));
    }
    const std::string& a = c.as_string();
    if (text.size() >= a.size() && (prefix ? text.compare(0, a.size(), a) == 0
                                           : text.compare(text.size() - a.size(), a.size(), a) == 0)) {
      return Value(true);
    }
  }
  return Value(false);
}

Expected<Value> split_method(const std::string& s, const ArgReader& r, bool reverse) {
  const Value sep = r.get_or(0, Value::none());
  const Value maxsplit = r.get_or(1, Value(int64_t{-1}));
  if (!sep.is_none() && !sep.is_string()) return type_error("must be str or None, not " + py_type_name(sep));
  if (sep.is_string() && sep.as_string().empty()) return value_error("ValueError: empty separator");
  if (!maxsplit.is_int() && !maxsplit.is_bool())
    return type_error("'" + py_type_name(maxsplit) + "' object cannot be interpreted as an integer");
  const std::string* sep_ptr = sep.is_string() ? &sep.as_string() : nullptr;
  return string_list(reverse ? py::rsplit(s, sep_ptr, maxsplit.as_int())
                             : py::split(s, sep_ptr, maxsplit.as_int()));
}

Expected<Value> str_method(Interpreter& interp, const std::string& s, std::string_view name,
                           const Args& args) {
  if (name == "format") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, str_format(interp, s, args));
    return Value(std::move(text));
  }
  if (name == "split" || name == "rsplit") {
    ArgReader r(name, args, {"sep", "maxsplit"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    return split_method(s, r, name == "rsplit");
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgReader r(name, args, {"chars"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    const Value chars = r.get_or(0, Value::none());
    if (!chars.is_none() && !chars.is_string())
      return type_error(std::string(name) + " arg must be None or str");
    return Value(std::string(
        py::strip(s, chars.is_string() ? &chars.as_string() : nullptr, name != "rstrip", name != "lstrip")));
  }
  if (name == "startswith" || name == "endswith") {
    ArgReader r(name, args, {"prefix", "start", "end"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    return affix_test(s, r, name == "startswith");
  }
  if (name == "replace") {
    ArgReader r(name, args, {"old", "new", "count"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    AUTOGLM_RETURN_IF_ERROR(need_string(r.get(0), "replace"));
    AUTOGLM_RETURN_IF_ERROR(need_string(r.get(1), "replace"));
    std::string out = py::replace(s, r.get(0)->as_string(), r.get(1)->as_string(),
                                  r.get_or(2, Value(int64_t{-1})).as_int());
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(out.size()));
    return Value(std::move(out));
  }
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    AUTOGLM_RETURN_IF_ERROR(ArgReader(name, args, {}).status());
    if (name == "upper") return Value(py::upper(s));
    if (name == "title") return Value(py::title(s));
    if (name == "capitalize") return Value(py::capitalize(s));
    if (name == "swapcase") return Value(py::swapcase(s));
    return Value(py::lower(s));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ArgReader r(name, args, {"sub", "start", "end"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    AUTOGLM_RETURN_IF_ERROR(need_string(r.get(0), std::string(name).c_str()));
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, window(s, r, 1));
    if (name == "count") return Value(py::count(text, r.get(0)->as_string()));
    const int64_t at = py::find(text, r.get(0)->as_string(), name[0] == 'r');
    if (at < 0) {
      if (name == "index" || name == "rindex") return value_error("ValueError: substring not found");
      return Value(int64_t{-1});
    }
    return Value(at + window_offset(s, r, 1));
  }
  if (name == "join") {
    ArgReader r(name, args, {"iterable"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    if (!r.has(0)) return type_error("join() takes exactly one argument (0 given)");
    AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(*r.get(0)));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return type_error("sequence item " + std::to_string(i) + ": expected str instance, " +
                          py_type_name(items[i]) + " found");
      }
      if (i > 0) out += s;
      out += items[i].as_string();
      AUTOGLM_RETURN_IF_ERROR(interp.check_size(out.size()));
    }
    return Value(std::move(out));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    ArgReader r(name, args, {"width", "fillchar"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    return pad_string(s, r, name == "ljust" ? '<' : name == "rjust" ? '>' : '^');
  }
  if (name == "zfill") {
    ArgReader r(name, args, {"width"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    const int64_t width = std::min<int64_t>(r.get_or(0, Value(int64_t{0})).as_int(), 1 << 20);
    const auto len = static_cast<int64_t>(py::length(s));
    if (width <= len) return Value(s);
    const size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    return Value(s.substr(0, sign) + std::string(static_cast<size_t>(width - len), '0') + s.substr(sign));
  }
  if (name == "partition" || name == "rpartition") {
    ArgReader r(name, args, {"sep"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    AUTOGLM_RETURN_IF_ERROR(need_string(r.get(0), "partition"));
    const std::string& sep = r.get(0)->as_string();
    if (sep.empty()) return value_error("ValueError: empty separator");
    const size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (at == std::string::npos) {
      return name == "partition" ? Value::tuple({Value(s), Value(""), Value("")})
                                 : Value::tuple({Value(""), Value(""), Value(s)});
    }
    return Value::tuple({Value(s.substr(0, at)), Value(sep), Value(s.substr(at + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgReader r(name, args, {"affix"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    AUTOGLM_RETURN_IF_ERROR(need_string(r.get(0), "removeprefix"));
    const std::string& a = r.get(0)->as_string();
    if (name == "removeprefix") return Value(s.compare(0, a.size(), a) == 0 ? s.substr(a.size()) : s);
    const bool ends = s.size() >= a.size() && s.compare(s.size() - a.size(), a.size(), a) == 0;
    return Value(ends ? s.substr(0, s.size() - a.size()) : s);
  }
  if (name == "splitlines") {
    ArgReader r(name, args, {"keepends"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    return string_list(py::splitlines(s, r.get_or(0, Value(false)).truthy()));
  }
  AUTOGLM_RETURN_IF_ERROR(ArgReader(name, args, {}).status());
  if (name == "isalnum") return all_chars(s, [](char32_t c) { return py::is_alpha(c) || py::is_digit(c); });
  if (name == "isalpha") return all_chars(s, py::is_alpha);
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return all_chars(s, py::is_digit);
  if (name == "isspace") return all_chars(s, py::is_space);
  if (name == "isascii") return Value(py::is_ascii(s));
  if (name == "islower" || name == "isupper") {
    bool cased = false;
    for (size_t pos = 0; pos < s.size();) {
      const utf8::Decoded d = utf8::decode(s, pos);
      if (name == "islower" ? py::is_upper(d.code_point) : py::is_lower(d.code_point)) return Value(false);
      cased = cased || (name == "islower" ? py::is_lower(d.code_point) : py::is_upper(d.code_point));
      pos += d.length;
    }
    return Value(cased);
  }
  if (name == "istitle") return Value(!s.empty() && py::title(s) == s && py::lower(s) != s);
  return type_error("str." + std::string(name) + "() is not supported");
}

Expected<Value> sequence_method(const Value& seq, std::string_view name, const Args& args) {
  const auto& items = seq.as_list();
  if (name == "copy") {
    AUTOGLM_RETURN_IF_ERROR(ArgReader(name, args, {}).status());
    return seq;
  }
  ArgReader r(name, args, {"value", "start", "stop"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  if (!r.has(0)) return type_error(std::string(name) + "() takes at least 1 argument (0 given)");
  if (name == "count") {
    return Value(static_cast<int64_t>(
        std::count_if(items.begin(), items.end(), [&](const Value& v) { return py_equal(v, *r.get(0)); })));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (py_equal(items[i], *r.get(0))) return Value(static_cast<int64_t>(i));
  }
  return value_error("ValueError: " + py_repr(*r.get(0), 200) + " is not in " + py_type_name(seq));
}

Expected<Value> dict_method(const Dict& dict, const Value& receiver, std::string_view name,
                            const Args& args) {
  if (name == "get") {
    ArgReader r(name, args, {"key", "default"});
    AUTOGLM_RETURN_IF_ERROR(r.status());
    if (!r.has(0)) return type_error("get expected at least 1 argument, got 0");
    const Value& key = *r.get(0);
    AUTOGLM_RETURN_IF_ERROR(check_hashable(key));
    if (const Value* v = dict.find(key)) return *v;
    return r.get_or(1, Value::none());
  }
  AUTOGLM_RETURN_IF_ERROR(ArgReader(name, args, {}).status());
  if (name == "copy") return receiver;
  std::vector<Value> out;
  out.reserve(dict.size());
  for (const auto& [key, value] : dict) {
    if (name == "items") {
      out.push_back(Value::tuple({key, value}));
    } else {
      out.push_back(name == "keys" ? key : value);
    }
  }
  return Value::list(std::move(out));
}

}  // namespace

MethodAccess find_method(const Value& receiver, std::string_view name) {
  if (receiver.is_string()) return listed(kStrMethods, name) ? MethodAccess::kSafe : MethodAccess::kNone;
  if (receiver.is_tuple()) return listed(kTupleMethods, name) ? MethodAccess::kSafe : MethodAccess::kNone;
  if (receiver.is_list()) {
    if (listed(kListMethods, name)) return MethodAccess::kSafe;
    return listed(kListUnsafe, name) ? MethodAccess::kUnsafe : MethodAccess::kNone;
  }
  if (receiver.is_dict()) {
    if (listed(kDictMethods, name)) return MethodAccess::kSafe;
    return listed(kDictUnsafe, name) ? MethodAccess::kUnsafe : MethodAccess::kNone;
  }
  return MethodAccess::kNone;
}

Expected<Value> call_method(Interpreter& interp, const Value& receiver, std::string_view name,
                            const Args& args) {
  AUTOGLM_RETURN_IF_ERROR(interp.count_step());
  if (receiver.is_string()) return str_method(interp, receiver.as_string(), name, args);
  if (receiver.is_list()) return sequence_method(receiver, name, args);
  if (receiver.is_dict()) return dict_method(receiver.as_dict(), receiver, name, args);
  return type_error("'" + py_type_name(receiver) + "' object has no attribute '" + std::string(name) + "'");
}

}  // namespace autoglm::jinja

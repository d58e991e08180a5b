// Filters on scalars and text, with jinja2's semantics (soft_str conversions, defaults, HF's tojson).
#include <cmath>
#include <limits>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_format.h"
#include "tokenizer/chat/py_json.h"
#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {
namespace {

#define READ_ARGS(reader, name, args, ...)   \
  ArgReader reader(name, args, __VA_ARGS__); \
  AUTOGLM_RETURN_IF_ERROR(reader.status())

// soft_str(v), refusing texts beyond the render's size limit.
#define TEXT_OF(var, value) AUTOGLM_ASSIGN_OR_RETURN(std::string var, interp.str(value))

Expected<Value> filter_abs(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "abs", args, {});
  if (input.is_float()) return Value(std::fabs(input.as_double()));
  if (input.is_int() || input.is_bool()) {
    if (input.as_int() == std::numeric_limits<int64_t>::min()) return out_of_range("OverflowError: abs()");
    return Value(input.as_int() < 0 ? -input.as_int() : input.as_int());
  }
  return type_error("bad operand type for abs(): '" + py_type_name(input) + "'");
}

Expected<Value> filter_attr(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "attr", args, {"name"});
  if (!r.has(0)) return type_error("attr() missing required argument 'name'");
  // Python getattr only (methods, object attributes), not item lookup: d | attr('key') is undefined.
  TEXT_OF(name, *r.get(0));
  if (input.is_undefined()) return undefined_error(input);
  if (input.is_object()) return input.as_object().get_attr(name);
  if (find_method(input, name) != MethodAccess::kNone) return interp.getattr(input, name);
  return Value::undefined("'" + (input.is_none() ? std::string("None") : py_type_name(input) + " object") +
                          "' has no attribute '" + name + "'");
}

Expected<Value> filter_capitalize(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "capitalize", args, {});
  TEXT_OF(text, input);
  return Value(py::capitalize(text));
}

Expected<Value> filter_center(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "center", args, {"width"});
  const Value width = r.get_or(0, Value(int64_t{80}));
  if (!width.is_int() && !width.is_bool())
    return type_error("'" + py_type_name(width) + "' object cannot be interpreted as an integer");
  TEXT_OF(text, input);
  const auto len = static_cast<int64_t>(py::length(text));
  const int64_t w = width.as_int();
  if (w <= len) return Value(text);
  AUTOGLM_RETURN_IF_ERROR(interp.check_size(static_cast<size_t>(w)));
  const int64_t margin = w - len;
  const int64_t left = margin / 2 + (margin & w & 1);  // CPython's str.center
  return Value(std::string(static_cast<size_t>(left), ' ') + text +
               std::string(static_cast<size_t>(margin - left), ' '));
}

Expected<Value> filter_default(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "default", args, {"default_value", "boolean"});
  const bool boolean = r.get_or(1, Value(false)).truthy();
  if (input.is_undefined() || (boolean && !input.truthy())) return r.get_or(0, Value(std::string()));
  return input;
}

Expected<Value> filter_escape(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "escape", args, {});
  std::string out;
  TEXT_OF(text, input);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value(std::move(out));
}

// Python's float(str): surrounding whitespace allowed, underscores between digits, inf/nan spellings.
std::optional<double> parse_python_float(std::string_view text) {
  const std::string_view s = py::strip(text, nullptr, true, true);
  if (s.empty()) return std::nullopt;
  std::string cleaned;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        return std::nullopt;
      }
      continue;
    }
    cleaned.push_back(s[i]);
  }
  std::string lower = py::lower(cleaned);
  const size_t sign = (lower[0] == '+' || lower[0] == '-') ? 1 : 0;
  const std::string body = lower.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    const double v =
        body == "nan" ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    return lower[0] == '-' ? -v : v;
  }
  for (const char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'))
      return std::nullopt;
  }
  char* end = nullptr;
  const double v = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return v;
}

// Python's int(str, base): whitespace, sign, underscores; nullopt when invalid.
std::optional<int64_t> parse_python_int(std::string_view text, int64_t base) {
  std::string_view s = py::strip(text, nullptr, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 1 && s[0] == '0' && (base == 0 || base == 16 || base == 8 || base == 2)) {
    const char p = static_cast<char>(s[1] | 0x20);
    const int64_t prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed != 0 && (base == 0 || base == prefixed)) {
      base = prefixed;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (s.empty() || base < 2 || base > 36) return std::nullopt;
  int64_t value = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_' && i > 0 && i + 1 < s.size() && s[i + 1] != '_') continue;
    int digit = 99;
    if (c >= '0' && c <= '9') digit = c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') digit = (c | 0x20) - 'a' + 10;
    if (digit >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, digit, &value))
      return std::nullopt;
  }
  return negative ? -value : value;
}

Expected<Value> filter_float(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "float", args, {"default"});
  const Value fallback = r.get_or(0, Value(0.0));
  if (input.is_undefined()) return undefined_error(input);  // float(Undefined) raises, uncaught by the filter
  if (input.is_number()) return Value(input.as_double());
  if (input.is_string()) {
    if (auto v = parse_python_float(input.as_string())) return Value(*v);
  }
  return fallback;
}

Expected<Value> filter_int(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "int", args, {"default", "base"});
  const Value fallback = r.get_or(0, Value(int64_t{0}));
  const Value base = r.get_or(1, Value(int64_t{10}));
  if (input.is_undefined()) return undefined_error(input);  // int(Undefined) raises, uncaught by the filter
  if (input.is_int() || input.is_bool()) return Value(input.as_int());
  if (input.is_float()) {
    const double v = input.as_double();
    if (std::isnan(v)) return fallback;
    if (std::isinf(v) || std::fabs(v) >= 9.2e18)
      return out_of_range("OverflowError: cannot convert float to integer");
    return Value(static_cast<int64_t>(std::trunc(v)));
  }
  if (input.is_string()) {
    if (auto v = parse_python_int(input.as_string(), base.is_int() ? base.as_int() : 10)) return Value(*v);
    if (auto f = parse_python_float(input.as_string()); f && std::isfinite(*f) && std::fabs(*f) < 9.2e18) {
      return Value(static_cast<int64_t>(std::trunc(*f)));
    }
  }
  return fallback;
}

Expected<Value> filter_format(Interpreter& interp, const Value& input, const Args& args) {
  if (!args.positional.empty() && !args.keywords.empty()) {
    return type_error("can't handle positional and keyword arguments at the same time");
  }
  Value operands;
  if (!args.keywords.empty()) {
    Dict d;
    for (const auto& [k, v] : args.keywords)
      d.set(k, v);
    operands = Value::dict(std::move(d));
  } else {
    operands = Value::tuple(args.positional);
  }
  TEXT_OF(format, input);
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, percent_format(format, operands, interp.max_text_bytes()));
  AUTOGLM_RETURN_IF_ERROR(interp.check_size(text.size()));
  return Value(std::move(text));
}

Expected<Value> filter_indent(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "indent", args, {"width", "first", "blank"});
  const Value width = r.get_or(0, Value(int64_t{4}));
  std::string indention;
  if (width.is_string()) {
    indention = width.as_string();
  } else if (width.is_int() || width.is_bool()) {
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(static_cast<size_t>(std::max<int64_t>(width.as_int(), 0))));
    indention.assign(static_cast<size_t>(std::max<int64_t>(width.as_int(), 0)), ' ');
  } else {
    return type_error("can't multiply sequence by non-int of type '" + py_type_name(width) + "'");
  }
  const bool first = r.get_or(1, Value(false)).truthy();
  const bool blank = r.get_or(2, Value(false)).truthy();
  // jinja2 appends "\n" to the input with +=, which only strings survive.
  if (input.is_undefined()) return undefined_error(input);
  if (input.is_list() && !input.is_tuple()) {
    return invalid_argument("AttributeError: 'list' object has no attribute 'splitlines'");
  }
  if (input.is_list()) return type_error("can only concatenate tuple (not \"str\") to tuple");
  if (!input.is_string()) {
    return type_error("unsupported operand type(s) for +=: '" + py_type_name(input) + "' and 'str'");
  }
  const std::vector<std::string> lines = py::splitlines(input.as_string() + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (blank || !lines[i].empty()) out += indention;
    }
    out += lines[i];
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(out.size()));
  }
  if (first) out = indention + out;
  return Value(std::move(out));
}

Expected<Value> filter_lower(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "lower", args, {});
  TEXT_OF(text, input);
  return Value(py::lower(text));
}

Expected<Value> filter_upper(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "upper", args, {});
  TEXT_OF(text, input);
  return Value(py::upper(text));
}

Expected<Value> filter_replace(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "replace", args, {"old", "new", "count"});
  if (!r.has(0) || !r.has(1)) return type_error("replace() missing required arguments");
  const Value count = r.get_or(2, Value::none());
  const int64_t n = (count.is_int() || count.is_bool()) ? count.as_int() : -1;
  TEXT_OF(text, input);
  TEXT_OF(old_text, *r.get(0));
  TEXT_OF(new_text, *r.get(1));
  AUTOGLM_RETURN_IF_ERROR(check_replace_size(interp, text, old_text, new_text, n));
  return Value(py::replace(text, old_text, new_text, n));
}

Expected<Value> filter_round(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "round", args, {"precision", "method"});
  const Value precision = r.get_or(0, Value(int64_t{0}));
  const Value method = r.get_or(1, Value("common"));
  if (!method.is_string() ||
      (method.as_string() != "common" && method.as_string() != "ceil" && method.as_string() != "floor")) {
    return type_error("method must be common, ceil or floor");
  }
  if (!input.is_number())
    return type_error("type " + py_type_name(input) + " doesn't define __round__ method");
  const int64_t digits = precision.is_int() || precision.is_bool() ? precision.as_int() : 0;
  if (method.as_string() == "common") {
    if (!input.is_float()) {
      if (digits >= 0) return Value(input.as_int());
      // round(int, -n): to a multiple of 10**n, ties to even.
      if (digits < -18) return Value(int64_t{0});
      int64_t scale = 1;
      for (int64_t k = 0; k < -digits; ++k)
        scale *= 10;
      const int64_t v = input.as_int();
      int64_t q = v / scale;
      int64_t rem = v % scale;
      if (rem < 0) {
        rem += scale;
        --q;
      }
      if (2 * rem > scale || (2 * rem == scale && (q % 2 != 0))) ++q;
      return Value(q * scale);
    }
    // Python's round(x, n): correctly rounded, ties to even, through the shortest exact decimal expansion.
    const double v = input.as_double();
    if (!std::isfinite(v) || digits > 300) return Value(v);
    if (digits < -300) return Value(std::copysign(0.0, v));
    char buf[512];
    if (digits >= 0) {
      std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(digits), v);
      return Value(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(-digits));
    return Value(std::nearbyint(v / scale) * scale);
  }
  const double scale = std::pow(10.0, static_cast<double>(digits));
  const double scaled = input.as_double() * scale;
  return Value((method.as_string() == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Expected<Value> filter_string(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "string", args, {});
  TEXT_OF(text, input);
  return Value(std::move(text));
}

// jinja2's title filter: the first character of each run of non-delimiters ('-', whitespace, '(', '{', '[',
// '<') upper-cased, the rest lower-cased.
Expected<Value> filter_title(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "title", args, {});
  TEXT_OF(text, input);
  std::string out;
  bool word_start = true;
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Decoded d = utf8::decode(text, pos);
    const char32_t c = d.code_point;
    const bool delimiter = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::is_space(c);
    if (delimiter) {
      out.append(text, pos, d.length);
      word_start = true;
    } else {
      out += word_start ? py::upper(std::string_view(text).substr(pos, d.length))
                        : py::lower(std::string_view(text).substr(pos, d.length));
      word_start = false;
    }
    pos += d.length;
  }
  return Value(std::move(out));
}

// HF's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Expected<Value> filter_tojson(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.max_bytes = interp.max_text_bytes();
  options.ensure_ascii = r.get_or(0, Value(false)).truthy();
  options.sort_keys = r.get_or(3, Value(false)).truthy();
  const Value indent = r.get_or(1, Value::none());
  if (indent.is_string()) {
    options.indent = indent.as_string();
  } else if (indent.is_int() || indent.is_bool()) {
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0))));
    options.indent = std::string(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0)), ' ');
  } else if (!indent.is_none() && !indent.is_undefined()) {
    return type_error("can't multiply sequence by non-int of type '" + py_type_name(indent) + "'");
  }
  if (options.indent) options.item_separator = ",";
  const Value separators = r.get_or(2, Value::none());
  if (separators.is_list()) {
    const auto& parts = separators.as_list();
    if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string()) {
      return value_error("ValueError: separators must be a pair of strings");
    }
    options.item_separator = parts[0].as_string();
    options.key_separator = parts[1].as_string();
  } else if (!separators.is_none() && !separators.is_undefined()) {
    return type_error("separators must be a (item_separator, key_separator) tuple");
  }
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, json_dumps(input, options));
  AUTOGLM_RETURN_IF_ERROR(interp.check_size(text.size()));
  return Value(std::move(text));
}

Expected<Value> filter_trim(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "trim", args, {"chars"});
  const Value chars = r.get_or(0, Value::none());
  if (!chars.is_none() && !chars.is_undefined() && !chars.is_string()) {
    return type_error("strip arg must be None or str");
  }
  TEXT_OF(text, input);
  return Value(std::string(py::strip(text, chars.is_string() ? &chars.as_string() : nullptr, true, true)));
}

Expected<Value> filter_truncate(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "truncate", args, {"length", "killwords", "end", "leeway"});
  const int64_t length = r.get_or(0, Value(int64_t{255})).as_int();
  const bool killwords = r.get_or(1, Value(false)).truthy();
  TEXT_OF(end, r.get_or(2, Value("...")));
  const int64_t leeway = r.get_or(3, Value(int64_t{5})).as_int();
  if (length < static_cast<int64_t>(py::length(end)))
    return value_error("AssertionError: expected length >= len(end)");
  if (leeway < 0) return value_error("AssertionError: expected leeway >= 0");
  // jinja2 measures the input with len() (no string conversion).
  if (!input.is_string()) {
    if (input.is_undefined()) return input;
    if ((input.is_list() && static_cast<int64_t>(input.as_list().size()) <= length + leeway) ||
        (input.is_dict() && static_cast<int64_t>(input.as_dict().size()) <= length + leeway)) {
      return input;
    }
    if (input.is_list() || input.is_dict()) return type_error("truncate() of a long " + py_type_name(input));
    return type_error("object of type '" + py_type_name(input) + "' has no len()");
  }
  const std::string& text = input.as_string();
  const std::vector<std::string_view> cps = py::code_points(text);
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return Value(text);
  const size_t keep = static_cast<size_t>(length) - py::length(end);
  std::string head(text.data(),
                   keep < cps.size() ? static_cast<size_t>(cps[keep].data() - text.data()) : text.size());
  if (killwords) return Value(head + end);
  const size_t space = head.rfind(' ');
  if (space != std::string::npos) head.resize(space);
  return Value(head + end);
}

Expected<Value> filter_wordcount(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "wordcount", args, {});
  TEXT_OF(text, input);
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Decoded d = utf8::decode(text, pos);
    const bool word_char = d.code_point == '_' || py::is_alpha(d.code_point) || py::is_digit(d.code_point);
    if (word_char && !in_word) ++words;
    in_word = word_char;
    pos += d.length;
  }
  return Value(words);
}

#undef READ_ARGS
#undef TEXT_OF

constexpr NamedFilter kTextFilters[] = {
    {"abs", filter_abs},           {"attr", filter_attr},     {"capitalize", filter_capitalize},
    {"center", filter_center},     {"d", filter_default},     {"default", filter_default},
    {"e", filter_escape},          {"escape", filter_escape}, {"forceescape", filter_escape},
    {"float", filter_float},       {"format", filter_format}, {"indent", filter_indent},
    {"int", filter_int},           {"lower", filter_lower},   {"replace", filter_replace},
    {"round", filter_round},       {"safe", filter_string},   {"string", filter_string},
    {"title", filter_title},       {"tojson", filter_tojson}, {"trim", filter_trim},
    {"truncate", filter_truncate}, {"upper", filter_upper},   {"wordcount", filter_wordcount},
};

}  // namespace

std::span<const NamedFilter> text_filters() {
  return kTextFilters;
}

}  // namespace autoglm::jinja

#include "tokenizer/chat/py_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {
namespace {

std::string pad(std::string body, size_t width, char align, const std::string& fill) {
  const size_t len = py::length(body);
  if (len >= width) return body;
  const size_t total = width - len;
  size_t left = 0;
  if (align == '>') left = total;
  if (align == '^') left = total / 2;
  std::string out;
  for (size_t i = 0; i < left; ++i)
    out += fill;
  out += body;
  for (size_t i = left; i < total; ++i)
    out += fill;
  return out;
}

std::string printf_double(char conversion, int precision, bool alternate, double value) {
  char format[16];
  std::snprintf(format, sizeof(format), "%%%s.%d%c", alternate ? "#" : "", precision, conversion);
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), format, value);
  if (n >= 0 && static_cast<size_t>(n) < sizeof(buf)) return buf;
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), format, value);
  big.resize(static_cast<size_t>(n));
  return big;
}

std::string group_digits(const std::string& digits, char separator, size_t every) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % every == 0) out.push_back(separator);
    out.push_back(digits[i]);
  }
  return out;
}

std::string int_digits(uint64_t magnitude, int base, bool upper) {
  if (magnitude == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (magnitude > 0) {
    out.insert(out.begin(), digits[magnitude % static_cast<uint64_t>(base)]);
    magnitude /= static_cast<uint64_t>(base);
  }
  return out;
}

struct Spec {
  std::string fill = " ";
  char align = 0;
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  size_t width = 0;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

Expected<Spec> parse_spec(std::string_view s) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  const std::vector<std::string_view> cps = py::code_points(s);
  if (cps.size() >= 2 && cps[1].size() == 1 && is_align(cps[1][0])) {
    spec.fill = std::string(cps[0]);
    spec.align = cps[1][0];
    i = cps[0].size() + 1;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') spec.alternate = (++i, true);
  if (i < s.size() && s[i] == '0') spec.zero = (++i, true);
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    spec.width = std::min<size_t>(spec.width * 10 + static_cast<size_t>(s[i++] - '0'), 1u << 30);
  }
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    spec.precision = 0;
    if (i >= s.size() || s[i] < '0' || s[i] > '9')
      return value_error("ValueError: Format specifier missing precision");
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      spec.precision = std::min(spec.precision * 10 + (s[i++] - '0'), 1 << 20);
  }
  if (i < s.size()) spec.type = s[i++];
  if (i < s.size()) return value_error("ValueError: Invalid format specifier");
  if (spec.width > 100000 || spec.precision > 1000) return value_error("ValueError: format width too large");
  return spec;
}

// Sign, digits and padding of a number formatted per the spec (align '=' and the '0' flag pad after the
// sign).
std::string finish_number(bool negative, const std::string& prefix, const std::string& body,
                          const Spec& spec) {
  std::string head;
  if (negative) {
    head.push_back('-');
  } else if (spec.sign == '+' || spec.sign == ' ') {
    head.push_back(spec.sign);
  }
  head.append(prefix);
  char align = spec.align;
  std::string fill = spec.fill;
  if (spec.zero && align == 0) {
    align = '=';
    fill.assign(1, '0');
  }
  if (align == 0) align = '>';
  const size_t len = py::length(head) + py::length(body);
  if (align == '=') {
    for (size_t i = len; i < spec.width; ++i)
      head.append(fill);
    head.append(body);
    return head;
  }
  head.append(body);
  return pad(std::move(head), spec.width, align, fill);
}

}  // namespace

Expected<std::string> format_value(const Value& value, std::string_view spec_text, size_t max_bytes) {
  if (value.is_undefined()) return std::string();
  if (spec_text.empty()) return py_str(value, max_bytes);
  AUTOGLM_ASSIGN_OR_RETURN(Spec spec, parse_spec(spec_text));
  if (value.is_string()) {
    if (spec.type != 0 && spec.type != 's') {
      return value_error(std::string("ValueError: Unknown format code '") + spec.type +
                         "' for object of type 'str'");
    }
    std::string text = value.as_string();
    if (spec.precision >= 0) {
      const auto cps = py::code_points(text);
      if (cps.size() > static_cast<size_t>(spec.precision)) {
        text = std::string(
            text.data(), static_cast<size_t>(cps[static_cast<size_t>(spec.precision)].data() - text.data()));
      }
    }
    return pad(std::move(text), spec.width, spec.align == 0 ? '<' : spec.align, spec.fill);
  }
  if (!value.is_number()) {
    return type_error("unsupported format string passed to " + py_type_name(value) + ".__format__");
  }
  const char type = spec.type;
  const bool int_type = type == 0 || type == 'd' || type == 'n' || type == 'b' || type == 'o' ||
                        type == 'x' || type == 'X' || type == 'c';
  if (!value.is_float() && int_type) {
    if (value.is_bool() && type == 0)
      return pad(py_str(value), spec.width, spec.align == 0 ? '<' : spec.align, spec.fill);
    const int64_t v = value.as_int();
    const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    if (type == 'c')
      return pad(utf8::encode(static_cast<char32_t>(v)), spec.width, spec.align == 0 ? '<' : spec.align,
                 spec.fill);
    const int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    std::string digits = int_digits(magnitude, base, type == 'X');
    if (spec.grouping != 0) digits = group_digits(digits, spec.grouping, base == 10 ? 3 : 4);
    const char* prefix = "";
    if (spec.alternate && base != 10)
      prefix = base == 2 ? "0b" : base == 8 ? "0o" : type == 'X' ? "0X" : "0x";
    return finish_number(v < 0, prefix, digits, spec);
  }
  if (int_type && type != 0) {
    return value_error(std::string("ValueError: Unknown format code '") + type +
                       "' for object of type 'float'");
  }
  double v = value.as_double();
  const bool negative = std::signbit(v) && !std::isnan(v);
  v = std::fabs(v);
  std::string body;
  if (type == 0 && spec.precision < 0) {
    body = py::float_repr(v);
  } else if (type == 0 || type == 'g' || type == 'G' || type == 'n') {
    body = printf_double(type == 'G' ? 'G' : 'g', spec.precision < 0 ? 6 : std::max(spec.precision, 1),
                         spec.alternate, v);
    if (type == 0 && body.find_first_of(".eEn") == std::string::npos) body += ".0";
  } else if (type == '%') {
    body = printf_double('f', spec.precision < 0 ? 6 : spec.precision, spec.alternate, v * 100) + "%";
  } else if (type == 'f' || type == 'F' || type == 'e' || type == 'E') {
    body = printf_double(type, spec.precision < 0 ? 6 : spec.precision, spec.alternate, v);
  } else {
    return value_error(std::string("ValueError: Unknown format code '") + type +
                       "' for object of type 'float'");
  }
  if (spec.grouping != 0) {
    const size_t end = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, end), spec.grouping, 3) +
           (end == std::string::npos ? "" : body.substr(end));
  }
  return finish_number(negative, "", body, spec);
}

namespace {

// The mini-language spec equivalent to a printf conversion's flags.
std::string printf_spec(const Spec& f, char type) {
  std::string spec;
  if (f.align == '<') {
    spec += "<";
  } else if (f.zero) {
    spec += "0=";
  } else {
    spec += ">";
  }
  if (f.sign != '-') spec.push_back(f.sign);
  if (f.alternate) spec.push_back('#');
  spec += std::to_string(f.width);
  if (f.precision >= 0) {
    spec.push_back('.');
    spec += std::to_string(f.precision);
  }
  spec.push_back(type);
  return spec;
}

std::string truncate_code_points(std::string text, int precision) {
  if (precision < 0) return text;
  const auto cps = py::code_points(text);
  if (cps.size() > static_cast<size_t>(precision)) {
    text.resize(static_cast<size_t>(cps[static_cast<size_t>(precision)].data() - text.data()));
  }
  return text;
}

}  // namespace

Expected<std::string> percent_format(std::string_view format, const Value& args, size_t max_bytes) {
  const bool is_tuple = args.is_tuple();
  // Python treats any non-tuple, non-str argument with __getitem__ (dict, list) as a mapping: unused, it is
  // no error.
  const bool mapping_like = args.is_dict() || (args.is_list() && !is_tuple) || args.is_undefined();
  const Dict* mapping = args.is_dict() ? &args.as_dict() : nullptr;
  const std::vector<Value> single{args};
  const std::vector<Value>& positional = is_tuple ? args.as_list() : single;
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) return value_error("ValueError: incomplete format");
    Value arg;
    bool have_arg = false;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string_view::npos) return value_error("ValueError: incomplete format key");
      if (args.is_undefined()) return undefined_error(args);
      if (mapping == nullptr) {
        return type_error(mapping_like ? "list indices must be integers or slices, not str"
                                       : "format requires a mapping");
      }
      const std::string key(format.substr(i + 1, close - i - 1));
      const Value* found = mapping->find(key);
      if (found == nullptr) return invalid_argument("KeyError: '" + key + "'");
      arg = *found;
      have_arg = true;
      i = close + 1;
    }
    auto take = [&]() -> Expected<Value> {
      if (next >= positional.size()) return type_error("not enough arguments for format string");
      return positional[next++];
    };
    Spec spec;
    spec.align = '>';
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-') {
        spec.align = '<';
      } else if (f == '+' || f == ' ') {
        if (spec.sign != '+') spec.sign = f;
      } else if (f == '#') {
        spec.alternate = true;
      } else if (f == '0') {
        spec.zero = true;
      } else {
        break;
      }
    }
    auto read_number = [&]() -> Expected<int64_t> {
      if (i < format.size() && format[i] == '*') {
        ++i;
        AUTOGLM_ASSIGN_OR_RETURN(Value v, take());
        if (!v.is_int()) return type_error("* wants int");
        return v.as_int();
      }
      int64_t n = 0;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
        n = std::min<int64_t>(n * 10 + (format[i++] - '0'), 100000);
      }
      return n;
    };
    AUTOGLM_ASSIGN_OR_RETURN(int64_t width, read_number());
    if (width < 0) spec.align = '<';
    spec.width = static_cast<size_t>(std::min<int64_t>(width < 0 ? -width : width, 100000));
    if (i < format.size() && format[i] == '.') {
      ++i;
      AUTOGLM_ASSIGN_OR_RETURN(int64_t precision, read_number());
      spec.precision = static_cast<int>(std::clamp<int64_t>(precision, 0, 1000));
    }
    if (i >= format.size()) return value_error("ValueError: incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_arg) {
      AUTOGLM_ASSIGN_OR_RETURN(arg, take());
    }
    if (conversion == 's' || conversion == 'r' || conversion == 'a') {
      std::string piece = truncate_code_points(
          conversion == 's' ? py_str(arg, max_bytes) : py_repr(arg, max_bytes), spec.precision);
      out += pad(std::move(piece), spec.width, spec.align, " ");
      if (out.size() > max_bytes) return resource_exhausted("string formatting result too large");
      continue;
    }
    if (!arg.is_number()) {
      return type_error(std::string("%") + conversion + " format: a real number is required, not " +
                        py_type_name(arg));
    }
    Value operand = arg;
    char type = conversion;
    if (conversion == 'd' || conversion == 'i' || conversion == 'u') {
      operand = Value(arg.is_float() ? static_cast<int64_t>(std::trunc(arg.as_double())) : arg.as_int());
      type = 'd';
      spec.precision = -1;
    } else if (conversion == 'x' || conversion == 'X' || conversion == 'o') {
      if (arg.is_float()) {
        return type_error(std::string("%") + conversion + " format: an integer is required, not float");
      }
      spec.precision = -1;
    } else if (conversion == 'f' || conversion == 'F' || conversion == 'e' || conversion == 'E' ||
               conversion == 'g' || conversion == 'G') {
      operand = Value(arg.as_double());
      if (spec.precision < 0) spec.precision = 6;
    } else {
      return value_error(std::string("ValueError: unsupported format character '") + conversion + "'");
    }
    AUTOGLM_ASSIGN_OR_RETURN(std::string piece, format_value(operand, printf_spec(spec, type), max_bytes));
    out += piece;
    if (out.size() > max_bytes) return resource_exhausted("string formatting result too large");
  }
  if (next < positional.size() && (is_tuple || (next == 0 && !mapping_like))) {
    return type_error("not all arguments converted during string formatting");
  }
  return out;
}

Expected<std::string> str_format(Interpreter& interp, std::string_view format, const Args& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      return value_error("ValueError: Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    // Find the matching '}' (format specs may nest one level of {...}).
    size_t depth = 1;
    size_t end = i + 1;
    for (; end < format.size() && depth > 0; ++end) {
      if (format[end] == '{') ++depth;
      if (format[end] == '}') --depth;
    }
    if (depth != 0) return value_error("ValueError: expected '}' before end of string");
    const std::string_view field = format.substr(i + 1, end - i - 2);
    i = end - 1;
    size_t colon = std::string_view::npos;
    size_t bang = std::string_view::npos;
    for (size_t k = 0, brackets = 0; k < field.size(); ++k) {
      if (field[k] == '[') ++brackets;
      if (field[k] == ']' && brackets > 0) --brackets;
      if (brackets == 0 && field[k] == '!' && bang == std::string_view::npos) bang = k;
      if (brackets == 0 && field[k] == ':') {
        colon = k;
        break;
      }
    }
    const std::string_view name = field.substr(0, std::min(bang, colon));
    std::string spec(colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1));
    const char conversion = bang == std::string_view::npos || bang + 1 >= field.size() ? 0 : field[bang + 1];
    if (spec.find('{') != std::string::npos) {
      AUTOGLM_ASSIGN_OR_RETURN(spec, str_format(interp, spec, args));
    }
    // arg_name, then .attr / [key] parts.
    size_t k = 0;
    while (k < name.size() && name[k] != '.' && name[k] != '[')
      ++k;
    const std::string_view arg_name = name.substr(0, k);
    Value value;
    if (arg_name.empty() || arg_name.find_first_not_of("0123456789") == std::string_view::npos) {
      const std::optional<int64_t> explicit_index = py::parse_decimal(arg_name);
      if (!arg_name.empty() && !explicit_index)
        return value_error("ValueError: Too many decimal digits in format string");
      const size_t index = arg_name.empty() ? auto_index++ : static_cast<size_t>(*explicit_index);
      if (index >= args.positional.size()) {
        return invalid_argument("IndexError: Replacement index " + std::to_string(index) +
                                " out of range for positional args tuple");
      }
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [key, v] : args.keywords) {
        if (key == arg_name) {
          value = v;
          found = true;
        }
      }
      if (!found) return invalid_argument("KeyError: '" + std::string(arg_name) + "'");
    }
    while (k < name.size()) {
      if (name[k] == '.') {
        size_t e = k + 1;
        while (e < name.size() && name[e] != '.' && name[e] != '[')
          ++e;
        AUTOGLM_ASSIGN_OR_RETURN(value, interp.getattr(value, name.substr(k + 1, e - k - 1)));
        k = e;
      } else {
        const size_t close = name.find(']', k);
        if (close == std::string_view::npos) return value_error("ValueError: Missing ']' in format string");
        const std::string key(name.substr(k + 1, close - k - 1));
        const std::optional<int64_t> numeric = py::parse_decimal(key);
        AUTOGLM_ASSIGN_OR_RETURN(value, interp.getitem(value, numeric ? Value(*numeric) : Value(key)));
        k = close + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') value = Value(py_repr(value, interp.max_text_bytes()));
    if (conversion == 's') value = Value(py_str(value, interp.max_text_bytes()));
    AUTOGLM_ASSIGN_OR_RETURN(std::string piece, format_value(value, spec, interp.max_text_bytes()));
    out += piece;
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(out.size()));
  }
  return out;
}

}  // namespace autoglm::jinja

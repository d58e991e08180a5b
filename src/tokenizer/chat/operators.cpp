#include "tokenizer/chat/operators.h"

#include <cmath>
#include <limits>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/py_format.h"
#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {
namespace {

const char* op_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kFloorDiv:
      return "//";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "** or pow()";
  }
  return "?";
}

Status unsupported_operands(BinaryOp op, const Value& a, const Value& b) {
  return type_error(std::string("unsupported operand type(s) for ") + op_symbol(op) + ": '" +
                    py_type_name(a) + "' and '" + py_type_name(b) + "'");
}

Status overflow() {
  return out_of_range("OverflowError: integer result exceeds 64 bits");
}

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

Expected<Value> int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 0) return value_error("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return Value(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  }
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return overflow();
    }
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return overflow();
  }
  return Value(result);
}

Expected<Value> arithmetic(BinaryOp op, const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) return overflow();
        return Value(r);
      case BinaryOp::kSub:
        if (__builtin_sub_overflow(x, y, &r)) return overflow();
        return Value(r);
      case BinaryOp::kMul:
        if (__builtin_mul_overflow(x, y, &r)) return overflow();
        return Value(r);
      case BinaryOp::kDiv:
        if (y == 0) return value_error("ZeroDivisionError: division by zero");
        return Value(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::kFloorDiv:
        if (y == 0) return value_error("ZeroDivisionError: integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return overflow();
        return Value(floor_div(x, y));
      case BinaryOp::kMod:
        if (y == 0) return value_error("ZeroDivisionError: integer modulo by zero");
        if (y == -1) return Value(int64_t{0});
        return Value(floor_mod(x, y));
      case BinaryOp::kPow:
        return int_pow(x, y);
    }
  }
  const double x = a.as_double();
  const double y = b.as_double();
  switch (op) {
    case BinaryOp::kAdd:
      return Value(x + y);
    case BinaryOp::kSub:
      return Value(x - y);
    case BinaryOp::kMul:
      return Value(x * y);
    case BinaryOp::kDiv:
      if (y == 0) return value_error("ZeroDivisionError: float division by zero");
      return Value(x / y);
    case BinaryOp::kFloorDiv: {  // CPython's float_floor_div
      if (y == 0) return value_error("ZeroDivisionError: float floor division by zero");
      const double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
      if (div == 0) return Value(std::copysign(0.0, x / y));
      double floored = std::floor(div);
      if (div - floored > 0.5) floored += 1.0;
      return Value(floored);
    }
    case BinaryOp::kMod: {
      if (y == 0) return value_error("ZeroDivisionError: float modulo");
      double mod = std::fmod(x, y);
      if (mod != 0) {
        if ((y < 0) != (mod < 0)) mod += y;
      } else {
        mod = std::copysign(0.0, y);
      }
      return Value(mod);
    }
    case BinaryOp::kPow:
      if (x == 0 && y < 0) return value_error("ZeroDivisionError: 0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) return value_error("ValueError: complex results are not supported");
      if (const double r = std::pow(x, y); std::isinf(r) && std::isfinite(x) && std::isfinite(y)) {
        return out_of_range("OverflowError: (34, 'Numerical result out of range')");
      } else {
        return Value(r);
      }
  }
  return Value();
}

Expected<Value> repeat(Interpreter& interp, const Value& seq, int64_t times) {
  if (times <= 0)
    return seq.is_string() ? Value(std::string()) : seq.is_tuple() ? Value::tuple({}) : Value::list({});
  const size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_list().size();
  if (unit != 0 && static_cast<uint64_t>(times) > (std::numeric_limits<size_t>::max() / 2) / unit) {
    return interp.check_size(std::numeric_limits<size_t>::max());
  }
  AUTOGLM_RETURN_IF_ERROR(interp.check_size(unit * static_cast<size_t>(times)));
  if (seq.is_string()) {
    std::string out;
    out.reserve(unit * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i)
      out += seq.as_string();
    return Value(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(unit * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i)
    items.insert(items.end(), seq.as_list().begin(), seq.as_list().end());
  return seq.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

}  // namespace

Status undefined_error(const Value& undefined) {
  if (undefined.undefined_is_unsafe())
    return invalid_argument("SecurityError: " + undefined.undefined_message());
  const std::string& message = undefined.undefined_message();
  return invalid_argument("UndefinedError: " +
                          (message.empty() ? std::string("value is undefined") : message));
}

Expected<Value> binary_op(Interpreter& interp, BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined() && !(op == BinaryOp::kMod && a.is_string())) return undefined_error(b);
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  switch (op) {
    case BinaryOp::kAdd:
      if (a.is_string() && b.is_string()) {
        AUTOGLM_RETURN_IF_ERROR(interp.check_size(a.as_string().size() + b.as_string().size()));
        return Value(a.as_string() + b.as_string());
      }
      if (a.is_string())
        return type_error("can only concatenate str (not \"" + py_type_name(b) + "\") to str");
      if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        AUTOGLM_RETURN_IF_ERROR(interp.check_size(a.as_list().size() + b.as_list().size()));
        std::vector<Value> items = a.as_list();
        items.insert(items.end(), b.as_list().begin(), b.as_list().end());
        return a.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
      }
      if (a.is_list()) {
        return type_error("can only concatenate " + py_type_name(a) + " (not \"" + py_type_name(b) +
                          "\") to " + py_type_name(a));
      }
      break;
    case BinaryOp::kMul:
      if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(interp, a, b.as_int());
      if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(interp, b, a.as_int());
      if (a.is_string() || a.is_list() || b.is_string() || b.is_list()) {
        const Value& other = (a.is_string() || a.is_list()) ? b : a;
        return type_error("can't multiply sequence by non-int of type '" + py_type_name(other) + "'");
      }
      break;
    case BinaryOp::kMod:
      if (a.is_string()) {  // str % x formats even with an Undefined x (Python treats it as a mapping)
        AUTOGLM_ASSIGN_OR_RETURN(std::string text, percent_format(a.as_string(), b, interp.max_text_bytes()));
        AUTOGLM_RETURN_IF_ERROR(interp.check_size(text.size()));
        return Value(std::move(text));
      }
      break;
    case BinaryOp::kSub:
    case BinaryOp::kDiv:
    case BinaryOp::kFloorDiv:
    case BinaryOp::kPow:
      break;
  }
  return unsupported_operands(op, a, b);
}

Expected<Value> negate(const Value& value) {
  if (value.is_undefined()) return undefined_error(value);
  if (value.is_float()) return Value(-value.as_double());
  if (value.is_int() || value.is_bool()) {
    if (value.as_int() == std::numeric_limits<int64_t>::min()) return overflow();
    return Value(-value.as_int());
  }
  return type_error("bad operand type for unary -: '" + py_type_name(value) + "'");
}

Expected<Value> unary_plus(const Value& value) {
  if (value.is_undefined()) return undefined_error(value);
  if (value.is_float()) return value;
  if (value.is_int() || value.is_bool()) return Value(value.as_int());
  return type_error("bad operand type for unary +: '" + py_type_name(value) + "'");
}

Expected<bool> less_than(const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string())
    return a.as_string() < b.as_string();  // UTF-8 order is code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (py_equal(x[i], y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return type_error("'<' not supported between instances of '" + py_type_name(a) + "' and '" +
                    py_type_name(b) + "'");
}

namespace {

// Python's rich comparison for <, <=, >, >=, with its TypeError naming the operator and the operand types.
Expected<bool> order(CompareOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  const bool comparable = (a.is_number() && b.is_number()) || (a.is_string() && b.is_string()) ||
                          (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple());
  if (!comparable) {
    const char* symbol = op == CompareOp::kLt     ? "<"
                         : op == CompareOp::kLtEq ? "<="
                         : op == CompareOp::kGt   ? ">"
                                                  : ">=";
    return type_error(std::string("'") + symbol + "' not supported between instances of '" + py_type_name(a) +
                      "' and '" + py_type_name(b) + "'");
  }
  if (a.is_list()) {
    // Python: the first pair of items that differ decides, compared with the same operator.
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!py_equal(x[i], y[i])) return order(op, x[i], y[i]);
    }
    return order(op, Value(static_cast<int64_t>(x.size())), Value(static_cast<int64_t>(y.size())));
  }
  switch (op) {
    case CompareOp::kLt:
      return less_than(a, b);
    case CompareOp::kGt:
      return less_than(b, a);
    case CompareOp::kLtEq: {
      if (py_equal(a, b)) return true;
      return less_than(a, b);
    }
    case CompareOp::kGtEq: {
      if (py_equal(a, b)) return true;
      return less_than(b, a);
    }
    case CompareOp::kEq:
    case CompareOp::kNe:
    case CompareOp::kIn:
    case CompareOp::kNotIn:
      break;
  }
  return false;
}

}  // namespace

Expected<bool> compare(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::kEq:
      return py_equal(a, b);
    case CompareOp::kNe:
      return !py_equal(a, b);
    case CompareOp::kLt:
    case CompareOp::kGt:
    case CompareOp::kLtEq:
    case CompareOp::kGtEq:
      return order(op, a, b);
    case CompareOp::kIn:
      return contains(b, a);
    case CompareOp::kNotIn: {
      AUTOGLM_ASSIGN_OR_RETURN(bool in, contains(b, a));
      return !in;
    }
  }
  return false;
}

Expected<bool> contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kUndefined:
      if (container.undefined_is_unsafe()) return undefined_error(container);
      return false;  // Undefined iterates as empty
    case ValueKind::kString:
      if (!item.is_string()) {
        return type_error("'in <string>' requires string as left operand, not " + py_type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& v : container.as_list()) {
        if (py_equal(v, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      AUTOGLM_RETURN_IF_ERROR(check_hashable(item));
      return container.as_dict().contains(item);
    case ValueKind::kObject: {
      break;
    }
    case ValueKind::kNone:
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
      break;
  }
  return type_error("argument of type '" + py_type_name(container) + "' is not iterable");
}

Status check_hashable(const Value& key) {
  if (key.is_dict() || (key.is_list() && !key.is_tuple()))
    return type_error("unhashable type: '" + py_type_name(key) + "'");
  if (key.is_tuple()) {
    for (const Value& item : key.as_list())
      AUTOGLM_RETURN_IF_ERROR(check_hashable(item));
  }
  return Status::ok();
}

std::optional<size_t> normalize_index(int64_t index, size_t size) {
  const auto n = static_cast<int64_t>(size);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return std::nullopt;
  return static_cast<size_t>(index);
}

Expected<Value> slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  auto bound = [](const Value& v, int64_t* out) -> Status {
    if (v.is_none() || v.is_undefined()) return Status::ok();
    if (!v.is_int() && !v.is_bool()) {
      return type_error("slice indices must be integers or None or have an __index__ method");
    }
    *out = v.as_int();
    return Status::ok();
  };
  if (obj.is_undefined()) return undefined_error(obj);
  if (!obj.is_string() && !obj.is_list())
    return type_error("'" + py_type_name(obj) + "' object is not subscriptable");
  int64_t step_v = 1;
  AUTOGLM_RETURN_IF_ERROR(bound(step, &step_v));
  if (step_v == 0) return value_error("ValueError: slice step cannot be zero");
  std::vector<size_t> offsets;
  std::string_view text;
  size_t n = 0;
  if (obj.is_string()) {
    text = obj.as_string();
    if (py::is_ascii(text)) {
      n = text.size();
    } else {
      offsets = py::code_point_offsets(text);
      n = offsets.size() - 1;
    }
  } else {
    n = obj.as_list().size();
  }
  const auto len = static_cast<int64_t>(n);
  int64_t lo = step_v < 0 ? len - 1 : 0;
  int64_t hi = step_v < 0 ? -1 : len;
  auto adjust = [&](const Value& v, int64_t* target) -> Status {
    int64_t i = 0;
    if (v.is_none() || v.is_undefined()) return Status::ok();
    AUTOGLM_RETURN_IF_ERROR(bound(v, &i));
    if (i < 0) {
      i += len;
      if (i < 0) i = step_v < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step_v < 0 ? len - 1 : len;
    }
    *target = i;
    return Status::ok();
  };
  AUTOGLM_RETURN_IF_ERROR(adjust(start, &lo));
  AUTOGLM_RETURN_IF_ERROR(adjust(stop, &hi));
  std::vector<int64_t> picked;
  if (step_v > 0) {
    for (int64_t i = lo; i < hi; i += step_v)
      picked.push_back(i);
  } else {
    for (int64_t i = lo; i > hi; i += step_v)
      picked.push_back(i);
  }
  if (obj.is_string()) {
    std::string out;
    if (offsets.empty()) {
      if (step_v == 1) return Value(std::string(text.substr(static_cast<size_t>(lo), picked.size())));
      for (const int64_t i : picked)
        out.push_back(text[static_cast<size_t>(i)]);
    } else {
      for (const int64_t i : picked) {
        const auto k = static_cast<size_t>(i);
        out.append(text.substr(offsets[k], offsets[k + 1] - offsets[k]));
      }
    }
    return Value(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(picked.size());
  for (const int64_t i : picked)
    items.push_back(obj.as_list()[static_cast<size_t>(i)]);
  return obj.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

}  // namespace autoglm::jinja

// Expressions, attribute and item access (jinja2's sandboxed getattr/getitem), iteration and calls.
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {
namespace {

// A method of a str, list or dict read without calling it (`x.items`).
class BoundMethod : public Callable {
 public:
  BoundMethod(Value receiver, std::string name) : receiver_(std::move(receiver)), name_(std::move(name)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr(size_t /*max_bytes*/) const override {
    return "<built-in method " + name_ + " of " + py_type_name(receiver_) + " object>";
  }
  Expected<Value> call(Interpreter& interp, const Args& args) override {
    return call_method(interp, receiver_, name_, args);
  }

 private:
  Value receiver_;
  std::string name_;
};

// jinja2's object_type_repr: "None", or "<type> object".
std::string object_type_repr(const Value& obj) {
  if (obj.is_none()) return "None";
  return py_type_name(obj) + " object";
}

Value missing_attribute(const Value& obj, std::string_view name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + std::string(name) + "'");
}

Value unsafe_attribute(const Value& obj, std::string_view name) {
  return Value::undefined(
      "access to attribute '" + std::string(name) + "' of '" + py_type_name(obj) + "' object is unsafe.",
      true);
}

// Python getattr() on data values: their methods, or nothing.
std::optional<Value> data_attribute(const Value& obj, std::string_view name) {
  switch (find_method(obj, name)) {
    case MethodAccess::kSafe:
      return Value::object(std::make_shared<BoundMethod>(obj, std::string(name)));
    case MethodAccess::kUnsafe:
      return unsafe_attribute(obj, name);
    case MethodAccess::kNone:
      break;
  }
  return std::nullopt;
}

}  // namespace

Expected<Value> Interpreter::getattr(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_object()) return obj.as_object().get_attr(name);
  if (auto attribute = data_attribute(obj, name)) return *attribute;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return missing_attribute(obj, name);
}

Expected<Value> Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  const bool int_key = key.is_int() || key.is_bool();
  if (obj.is_dict()) {
    if (!(key.is_list() && !key.is_tuple()) && !key.is_dict()) {
      if (const Value* v = obj.as_dict().find(key)) return *v;
    }
  } else if (obj.is_list() && int_key) {
    if (auto i = normalize_index(key.as_int(), obj.as_list().size())) return obj.as_list()[*i];
  } else if (obj.is_string() && int_key) {
    const std::string& s = obj.as_string();
    if (py::is_ascii(s)) {
      if (auto i = normalize_index(key.as_int(), s.size())) return Value(std::string(1, s[*i]));
    } else {
      const std::vector<std::string_view> cps = py::code_points(s);
      if (auto i = normalize_index(key.as_int(), cps.size())) return Value(cps[*i]);
    }
  }
  if (key.is_string()) {
    if (obj.is_object()) return obj.as_object().get_attr(key.as_string());
    if (auto attribute = data_attribute(obj, key.as_string())) return *attribute;
    return missing_attribute(obj, key.as_string());
  }
  return Value::undefined(object_type_repr(obj) + " has no element " + py_repr(key, 200));
}

Expected<std::vector<Value>> Interpreter::iterate(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
      if (value.undefined_is_unsafe()) return undefined_error(value);
      return std::vector<Value>{};
    case ValueKind::kList:
      return value.as_list();
    case ValueKind::kDict: {
      std::vector<Value> keys;
      keys.reserve(value.as_dict().size());
      for (const auto& [key, v] : value.as_dict())
        keys.push_back(key);
      return keys;
    }
    case ValueKind::kString: {
      std::vector<Value> chars;
      for (const std::string_view cp : py::code_points(value.as_string()))
        chars.emplace_back(cp);
      return chars;
    }
    case ValueKind::kNone:
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
    case ValueKind::kObject:
      break;
  }
  return type_error("'" + py_type_name(value) + "' object is not iterable");
}

Expected<Value> Interpreter::call_value(const Value& callee, const Args& args) {
  if (callee.is_undefined()) return undefined_error(callee);
  if (!callee.is_object() || !callee.as_object().is_callable()) {
    return type_error("'" + py_type_name(callee) + "' object is not callable");
  }
  return static_cast<Callable&>(callee.as_object()).call(*this, args);
}

Expected<Value> Interpreter::apply_filter(std::string_view name, const Value& input, const Args& args) {
  const FilterFn filter = find_filter(name);
  if (filter == nullptr)
    return invalid_argument("TemplateRuntimeError: No filter named '" + std::string(name) + "' found.");
  return filter(*this, input, args);
}

Expected<bool> Interpreter::apply_test(std::string_view name, const Value& input, const Args& args) {
  const TestFn test = find_test(name);
  if (test == nullptr)
    return invalid_argument("TemplateRuntimeError: No test named '" + std::string(name) + "' found.");
  return test(*this, input, args);
}

Expected<Value> Interpreter::apply_filter_chain(const Expr& chain, Value input,
                                                const std::shared_ptr<Frame>& frame) {
  if (chain.a != nullptr) {
    AUTOGLM_ASSIGN_OR_RETURN(input, apply_filter_chain(*chain.a, std::move(input), frame));
  }
  Args args;
  AUTOGLM_RETURN_IF_ERROR(eval_args(chain.args, frame, &args));
  Expected<Value> result = apply_filter(chain.name, input, args);
  if (!result.has_value()) return locate(result.status(), chain.offset);
  return result;
}

Status Interpreter::eval_args(const CallArgs& call, const std::shared_ptr<Frame>& frame, Args* args) {
  for (const ExprPtr& arg : call.positional) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*arg, frame));
    args->positional.push_back(std::move(v));
  }
  if (call.star_args != nullptr) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*call.star_args, frame));
    AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    for (Value& item : items)
      args->positional.push_back(std::move(item));
  }
  for (const auto& [key, arg] : call.keywords) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*arg, frame));
    args->keywords.emplace_back(key, std::move(v));
  }
  if (call.star_kwargs != nullptr) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*call.star_kwargs, frame));
    if (!v.is_dict()) return type_error("argument after ** must be a mapping, not " + py_type_name(v));
    for (const auto& [key, value] : v.as_dict()) {
      if (!key.is_string()) return type_error("keywords must be strings");
      args->keywords.emplace_back(key.as_string(), value);
    }
  }
  for (size_t i = 0; i < args->keywords.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (args->keywords[i].first == args->keywords[j].first) {
        return type_error("got multiple values for keyword argument '" + args->keywords[i].first + "'");
      }
    }
  }
  return Status::ok();
}

Expected<Value> Interpreter::eval(const Expr& expr, const std::shared_ptr<Frame>& frame) {
  AUTOGLM_RETURN_IF_ERROR(count_step());
  if (nesting_ >= kMaxNesting) return resource_exhausted("template evaluation nested too deeply");
  ++nesting_;
  Expected<Value> result = eval_node(expr, frame);
  --nesting_;
  if (!result.has_value()) return locate(result.status(), expr.offset);
  // Filters and methods can nest values too (x | batch(1)); deeper values would exhaust the stack later.
  if (result->depth() > kMaxValueDepth) return resource_exhausted("template built a value nested too deeply");
  return result;
}

Expected<Value> Interpreter::eval_call(const Expr& expr, const std::shared_ptr<Frame>& frame) {
  const Expr& callee_expr = *expr.a;
  Value callee;
  // obj.method(...) on str/list/dict calls the method directly, without materializing a bound method.
  if (callee_expr.kind == ExprKind::kGetattr) {
    AUTOGLM_ASSIGN_OR_RETURN(Value receiver, eval(*callee_expr.a, frame));
    if (!receiver.is_undefined() && !receiver.is_object() &&
        find_method(receiver, callee_expr.name) == MethodAccess::kSafe) {
      Args args;
      AUTOGLM_RETURN_IF_ERROR(eval_args(expr.args, frame, &args));
      return call_method(*this, receiver, callee_expr.name, args);
    }
    Expected<Value> attribute = getattr(receiver, callee_expr.name);
    if (!attribute.has_value()) return locate(attribute.status(), callee_expr.offset);
    callee = std::move(attribute).value();
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(callee, eval(callee_expr, frame));
  }
  Args args;
  AUTOGLM_RETURN_IF_ERROR(eval_args(expr.args, frame, &args));
  return call_value(callee, args);
}

Expected<Value> Interpreter::eval_compare(const Expr& expr, const std::shared_ptr<Frame>& frame) {
  AUTOGLM_ASSIGN_OR_RETURN(Value left, eval(*expr.a, frame));
  for (const auto& [op, operand] : expr.comparisons) {
    AUTOGLM_ASSIGN_OR_RETURN(Value right, eval(*operand, frame));
    AUTOGLM_ASSIGN_OR_RETURN(bool ok, compare(op, left, right));
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Expected<Value> Interpreter::eval_node(const Expr& expr, const std::shared_ptr<Frame>& frame) {
  switch (expr.kind) {
    case ExprKind::kConst:
      return expr.value;
    case ExprKind::kName:
      if (const Value* v = frame->lookup(expr.name)) return *v;
      return Value::undefined("'" + expr.name + "' is undefined");
    case ExprKind::kGetattr: {
      AUTOGLM_ASSIGN_OR_RETURN(Value obj, eval(*expr.a, frame));
      return getattr(obj, expr.name);
    }
    case ExprKind::kGetitem: {
      AUTOGLM_ASSIGN_OR_RETURN(Value obj, eval(*expr.a, frame));
      const Expr& key = *expr.b;
      if (key.kind == ExprKind::kSlice) {
        Value parts[3];
        const Expr* exprs[3] = {key.a.get(), key.b.get(), key.c.get()};
        for (int i = 0; i < 3; ++i) {
          if (exprs[i] == nullptr) continue;
          AUTOGLM_ASSIGN_OR_RETURN(parts[i], eval(*exprs[i], frame));
        }
        if (obj.is_dict() || obj.is_object())
          return Value::undefined(py_type_name(obj) + " object has no element slice");
        Expected<Value> sliced = slice_value(obj, parts[0], parts[1], parts[2]);
        if (!sliced.has_value() && !obj.is_undefined() && !obj.is_string() && !obj.is_list()) {
          return Value::undefined(object_type_repr(obj) + " has no element slice");
        }
        if (sliced.has_value())
          AUTOGLM_RETURN_IF_ERROR(check_size(sliced->is_string() ? sliced->as_string().size() : 0));
        return sliced;
      }
      AUTOGLM_ASSIGN_OR_RETURN(Value k, eval(key, frame));
      return getitem(obj, k);
    }
    case ExprKind::kSlice:
      return type_error("slices are only valid inside a subscript");
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(expr.items.size());
      for (const ExprPtr& item : expr.items) {
        AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*item, frame));
        if (v.depth() >= kMaxValueDepth)
          return resource_exhausted("template built a value nested too deeply");
        items.push_back(std::move(v));
      }
      return expr.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict dict;
      for (size_t i = 0; i + 1 < expr.items.size(); i += 2) {
        AUTOGLM_ASSIGN_OR_RETURN(Value key, eval(*expr.items[i], frame));
        AUTOGLM_ASSIGN_OR_RETURN(Value value, eval(*expr.items[i + 1], frame));
        AUTOGLM_RETURN_IF_ERROR(check_hashable(key));
        if (value.depth() >= kMaxValueDepth)
          return resource_exhausted("template built a value nested too deeply");
        dict.set(std::move(key), std::move(value));
      }
      return Value::dict(std::move(dict));
    }
    case ExprKind::kNeg: {
      AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*expr.a, frame));
      return negate(v);
    }
    case ExprKind::kPos: {
      AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*expr.a, frame));
      return unary_plus(v);
    }
    case ExprKind::kNot: {
      AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*expr.a, frame));
      return Value(!v.truthy());
    }
    case ExprKind::kBinary: {
      AUTOGLM_ASSIGN_OR_RETURN(Value a, eval(*expr.a, frame));
      AUTOGLM_ASSIGN_OR_RETURN(Value b, eval(*expr.b, frame));
      if (expr.negated_power) {
        AUTOGLM_ASSIGN_OR_RETURN(Value magnitude, negate(a));
        AUTOGLM_ASSIGN_OR_RETURN(Value power, binary_op(*this, expr.op, magnitude, b));
        return negate(power);
      }
      return binary_op(*this, expr.op, a, b);
    }
    case ExprKind::kAnd: {
      AUTOGLM_ASSIGN_OR_RETURN(Value a, eval(*expr.a, frame));
      if (!a.truthy()) return a;
      return eval(*expr.b, frame);
    }
    case ExprKind::kOr: {
      AUTOGLM_ASSIGN_OR_RETURN(Value a, eval(*expr.a, frame));
      if (a.truthy()) return a;
      return eval(*expr.b, frame);
    }
    case ExprKind::kConcat: {
      std::string out;
      for (const ExprPtr& item : expr.items) {
        AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*item, frame));
        if (v.is_string()) {
          out += v.as_string();
        } else {
          AUTOGLM_ASSIGN_OR_RETURN(std::string text, str(v));
          out += text;
        }
        AUTOGLM_RETURN_IF_ERROR(check_size(out.size()));
      }
      return Value(std::move(out));
    }
    case ExprKind::kCompare:
      return eval_compare(expr, frame);
    case ExprKind::kCondExpr: {
      AUTOGLM_ASSIGN_OR_RETURN(Value test, eval(*expr.a, frame));
      if (test.truthy()) return eval(*expr.b, frame);
      if (expr.c != nullptr) return eval(*expr.c, frame);
      return Value::undefined("the inline if-expression on " + parsed_.source.describe(expr.offset) +
                              " evaluated to false and no else section was defined.");
    }
    case ExprKind::kCall:
      return eval_call(expr, frame);
    case ExprKind::kFilter: {
      Value input;
      if (expr.a != nullptr) {
        AUTOGLM_ASSIGN_OR_RETURN(input, eval(*expr.a, frame));
      }
      Args args;
      AUTOGLM_RETURN_IF_ERROR(eval_args(expr.args, frame, &args));
      return apply_filter(expr.name, input, args);
    }
    case ExprKind::kTest: {
      AUTOGLM_ASSIGN_OR_RETURN(Value input, eval(*expr.a, frame));
      Args args;
      AUTOGLM_RETURN_IF_ERROR(eval_args(expr.args, frame, &args));
      AUTOGLM_ASSIGN_OR_RETURN(bool result, apply_test(expr.name, input, args));
      return Value(result);
    }
  }
  return Value();
}

}  // namespace autoglm::jinja

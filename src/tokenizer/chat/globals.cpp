// Global functions of HF's chat template environment: jinja2's range (sandbox-capped), dict, cycler and
// joiner, and HF's namespace (refusing underscore-prefixed names), raise_exception and strftime_now.
#include <ctime>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"

namespace autoglm::jinja {
namespace {

// jinja2's sandbox.MAX_RANGE.
constexpr int64_t kMaxRange = 100000;

using GlobalFn = Expected<Value> (*)(Interpreter& interp, const Args& args);

class BuiltinFunction : public Callable {
 public:
  // `attributes`: functions reachable as name.attribute (HF's dict.fromkeys).
  BuiltinFunction(std::string name, GlobalFn fn, std::vector<std::pair<std::string, Value>> attributes = {})
      : name_(std::move(name)), fn_(fn), attributes_(std::move(attributes)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr(size_t /*max_bytes*/) const override { return "<built-in function " + name_ + ">"; }
  Value get_attr(std::string_view name) const override {
    for (const auto& [key, value] : attributes_) {
      if (key == name) return value;
    }
    return Object::get_attr(name);
  }
  Expected<Value> call(Interpreter& interp, const Args& args) override { return fn_(interp, args); }

 private:
  std::string name_;
  GlobalFn fn_;
  std::vector<std::pair<std::string, Value>> attributes_;
};

Expected<Value> global_range(Interpreter&, const Args& args) {
  if (!args.keywords.empty()) return type_error("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return type_error("range expected at most 3 arguments, got " + std::to_string(args.positional.size()));
  }
  int64_t bounds[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& v = args.positional[i];
    if (!v.is_int() && !v.is_bool()) {
      return type_error("'" + py_type_name(v) + "' object cannot be interpreted as an integer");
    }
  }
  if (args.positional.size() == 1) {
    bounds[1] = args.positional[0].as_int();
  } else {
    bounds[0] = args.positional[0].as_int();
    bounds[1] = args.positional[1].as_int();
    if (args.positional.size() == 3) bounds[2] = args.positional[2].as_int();
  }
  const int64_t start = bounds[0];
  const int64_t stop = bounds[1];
  const int64_t step = bounds[2];
  if (step == 0) return value_error("ValueError: range() arg 3 must not be zero");
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 magnitude = step > 0 ? step : -static_cast<__int128>(step);
  const __int128 count = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
  if (count > kMaxRange) {
    return out_of_range(
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i)
    items.emplace_back(start + i * step);
  return Value::list(std::move(items));
}

// dict(mapping or pairs, **kwargs); HF's namespace() takes the same arguments.
Expected<Dict> dict_from_args(Interpreter& interp, const Args& args, const char* name) {
  if (args.positional.size() > 1) {
    return type_error(std::string(name) + " expected at most 1 argument, got " +
                      std::to_string(args.positional.size()));
  }
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.as_dict();
    } else {
      AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> pairs, interp.iterate(source));
      for (size_t i = 0; i < pairs.size(); ++i) {
        AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> pair, interp.iterate(pairs[i]));
        if (pair.size() != 2) {
          return value_error("ValueError: dictionary update sequence element #" + std::to_string(i) +
                             " has length " + std::to_string(pair.size()) + "; 2 is required");
        }
        AUTOGLM_RETURN_IF_ERROR(check_hashable(pair[0]));
        dict.set(pair[0], pair[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keywords)
    dict.set(key, value);
  return dict;
}

Expected<Value> global_dict(Interpreter& interp, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(Dict dict, dict_from_args(interp, args, "dict"));
  return Value::dict(std::move(dict));
}

// dict.fromkeys(iterable, value=None).
Expected<Value> global_dict_fromkeys(Interpreter& interp, const Args& args) {
  ArgReader r("fromkeys", args, {"iterable", "value"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  if (!r.has(0)) return type_error("fromkeys expected at least 1 argument, got 0");
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> keys, interp.iterate(*r.get(0)));
  const Value value = r.get_or(1, Value::none());
  Dict dict;
  for (Value& key : keys) {
    AUTOGLM_RETURN_IF_ERROR(check_hashable(key));
    dict.set(std::move(key), value);
  }
  return Value::dict(std::move(dict));
}

Expected<Value> global_namespace(Interpreter& interp, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(Dict dict, dict_from_args(interp, args, "namespace"));
  for (const auto& [key, value] : dict) {
    if (key.is_string() && !key.as_string().empty() && key.as_string()[0] == '_') {
      return invalid_argument(
          "SecurityError: Chat templates cannot store underscore-prefixed attributes on a "
          "namespace, but got '" +
          key.as_string() + "'. Please rename the attribute.");
    }
  }
  auto ns = std::make_shared<Namespace>();
  ns->attributes = std::move(dict);
  interp.track(ns);
  return Value::object(std::move(ns));
}

Expected<Value> global_raise_exception(Interpreter& interp, const Args& args) {
  ArgReader r("raise_exception", args, {"message"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  if (!r.has(0)) return type_error("raise_exception() missing 1 required positional argument: 'message'");
  const Value& message = *r.get(0);
  AUTOGLM_ASSIGN_OR_RETURN(const std::string text, interp.str(message));
  return interp.raise(text);
}

// datetime.now().strftime(format): Python handles %f, %z and %Z itself (a naive datetime has no zone), the C
// library the rest.
Expected<Value> global_strftime_now(Interpreter& interp, const Args& args) {
  ArgReader r("strftime_now", args, {"format"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  if (!r.has(0) || !r.get(0)->is_string()) return type_error("strftime() argument 1 must be str");
  const std::string& format = r.get(0)->as_string();
  std::string prepared;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      const char d = format[i + 1];
      if (d == 'f') {
        prepared += "000000";
        ++i;
        continue;
      }
      if (d == 'z' || d == 'Z') {
        ++i;
        continue;
      }
      prepared += format.substr(i, 2);
      ++i;
      continue;
    }
    prepared.push_back(format[i]);
  }
  if (prepared.empty()) return Value(std::string());
  // A marker character keeps an empty expansion apart from strftime's "buffer too small" result.
  prepared.push_back('\x01');
  for (size_t capacity = 256; capacity <= (1u << 20); capacity *= 4) {
    std::string out(capacity, '\0');
    const size_t n = std::strftime(out.data(), out.size(), prepared.c_str(), &interp.now());
    if (n > 0) {
      out.resize(n - 1);
      return Value(std::move(out));
    }
  }
  return value_error("ValueError: strftime format produces too much output");
}

// cycler(*items): .next(), .current, .reset().
class Cycler : public Object {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  std::string type_name() const override { return "Cycler"; }
  Value get_attr(std::string_view name) const override;

 private:
  class Method : public Callable {
   public:
    Method(std::shared_ptr<Cycler> cycler, bool next) : cycler_(std::move(cycler)), next_(next) {}
    std::string type_name() const override { return "method"; }
    Expected<Value> call(Interpreter&, const Args& args) override {
      AUTOGLM_RETURN_IF_ERROR(ArgReader(next_ ? "next" : "reset", args, {}).status());
      if (!next_) {
        cycler_->position_ = 0;
        return Value::none();
      }
      const Value current = cycler_->items_[cycler_->position_];
      cycler_->position_ = (cycler_->position_ + 1) % cycler_->items_.size();
      return current;
    }

   private:
    std::shared_ptr<Cycler> cycler_;
    bool next_;
  };

  friend class Method;
  std::vector<Value> items_;
  size_t position_ = 0;
  mutable std::weak_ptr<Cycler> self_;
  friend Expected<Value> global_cycler(Interpreter&, const Args&);
};

Value Cycler::get_attr(std::string_view name) const {
  if (name == "current") return items_[position_];
  if (name == "next" || name == "reset") {
    return Value::object(std::make_shared<Method>(self_.lock(), name == "next"));
  }
  return Object::get_attr(name);
}

Expected<Value> global_cycler(Interpreter&, const Args& args) {
  if (args.positional.empty()) return type_error("at least one item has to be provided");
  auto cycler = std::make_shared<Cycler>(args.positional);
  cycler->self_ = cycler;
  return Value::object(std::move(cycler));
}

// joiner(sep=", "): returns "" the first time it is called, then sep.
class Joiner : public Callable {
 public:
  explicit Joiner(Value sep) : sep_(std::move(sep)) {}
  std::string type_name() const override { return "Joiner"; }
  Expected<Value> call(Interpreter&, const Args& args) override {
    AUTOGLM_RETURN_IF_ERROR(ArgReader("joiner", args, {}).status());
    if (!used_) {
      used_ = true;
      return Value(std::string());
    }
    return sep_;
  }

 private:
  Value sep_;
  bool used_ = false;
};

Expected<Value> global_joiner(Interpreter&, const Args& args) {
  ArgReader r("joiner", args, {"sep"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  return Value::object(std::make_shared<Joiner>(r.get_or(0, Value(", "))));
}

}  // namespace

void add_global_functions(Frame& globals) {
  static const std::pair<const char*, GlobalFn> kGlobals[] = {
      {"range", global_range},
      {"dict", global_dict},
      {"namespace", global_namespace},
      {"cycler", global_cycler},
      {"joiner", global_joiner},
      {"raise_exception", global_raise_exception},
      {"strftime_now", global_strftime_now},
  };
  for (const auto& [name, fn] : kGlobals) {
    std::vector<std::pair<std::string, Value>> attributes;
    if (std::string_view(name) == "dict") {
      attributes.emplace_back(
          "fromkeys", Value::object(std::make_shared<BuiltinFunction>("fromkeys", global_dict_fromkeys)));
    }
    globals.set(name, Value::object(std::make_shared<BuiltinFunction>(name, fn, std::move(attributes))));
  }
}

}  // namespace autoglm::jinja

// Filters on sequences and mappings, with jinja2's semantics: attribute getters ("a.b.0") read items the way
// the sandbox does, string keys compare case-insensitively unless case_sensitive, sorting is stable and fails
// like Python on values that do not compare. Filters that return generators in jinja2 (map, select,
// reverse...) return lists here; templates consume both the same way (| list, | join, for loops).
#include <algorithm>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {
namespace {

#define READ_ARGS(reader, name, args, ...)   \
  ArgReader reader(name, args, __VA_ARGS__); \
  AUTOGLM_RETURN_IF_ERROR(reader.status())

Value ignore_case(const Value& v) {
  return v.is_string() ? Value(py::lower(v.as_string())) : v;
}

// jinja2's make_attrgetter: "a.b.0" reads item a, then b, then index 0 (digits become ints).
Expected<Value> get_attribute(Interpreter& interp, const Value& item, const Value& attribute,
                              const Value* fallback = nullptr) {
  Value result = item;
  if (attribute.is_string()) {
    const std::string dot = ".";
    for (const std::string& part : py::split(attribute.as_string(), &dot, -1)) {
      const std::optional<int64_t> index = py::parse_decimal(part);
      AUTOGLM_ASSIGN_OR_RETURN(result, interp.getitem(result, index ? Value(*index) : Value(part)));
    }
  } else if (!attribute.is_none() && !attribute.is_undefined()) {
    AUTOGLM_ASSIGN_OR_RETURN(result, interp.getitem(result, attribute));
  }
  if (fallback != nullptr && result.is_undefined()) return *fallback;
  return result;
}

Expected<std::vector<Value>> sort_values(std::vector<Value> items, std::vector<Value> keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (!error.is_ok()) return false;
    Expected<bool> lt = reverse ? less_than(keys[y], keys[x]) : less_than(keys[x], keys[y]);
    if (!lt.has_value()) {
      error = lt.status();
      return false;
    }
    return *lt;
  });
  AUTOGLM_RETURN_IF_ERROR(error);
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (const size_t i : order)
    sorted.push_back(std::move(items[i]));
  return sorted;
}

Expected<Value> filter_batch(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "batch", args, {"linecount", "fill_with"});
  if (!r.has(0) || !(r.get(0)->is_int() || r.get(0)->is_bool()))
    return type_error("batch() needs an integer linecount");
  const int64_t count = r.get(0)->as_int();
  const Value fill = r.get_or(1, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  std::vector<Value> batches;
  std::vector<Value> current;
  for (Value& item : items) {
    if (static_cast<int64_t>(current.size()) == count)
      batches.push_back(Value::list(std::exchange(current, {})));
    current.push_back(std::move(item));
  }
  if (!current.empty()) {
    if (!fill.is_none() && static_cast<int64_t>(current.size()) < count) {
      AUTOGLM_RETURN_IF_ERROR(interp.check_size(static_cast<size_t>(count)));
      current.resize(static_cast<size_t>(count), fill);
    }
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(batches));
}

Expected<Value> filter_length(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "length", args, {});
  switch (input.kind()) {
    case ValueKind::kUndefined:
      return Value(int64_t{0});
    case ValueKind::kString:
      return Value(static_cast<int64_t>(py::length(input.as_string())));
    case ValueKind::kList:
      return Value(static_cast<int64_t>(input.as_list().size()));
    case ValueKind::kDict:
      return Value(static_cast<int64_t>(input.as_dict().size()));
    case ValueKind::kObject:
      if (input.as_object().type_name() == "LoopContext") return input.as_object().get_attr("length");
      break;
    case ValueKind::kNone:
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
      break;
  }
  return type_error("object of type '" + py_type_name(input) + "' has no len()");
}

Expected<Value> filter_dictsort(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = r.get_or(0, Value(false)).truthy();
  const Value by = r.get_or(1, Value("key"));
  const bool reverse = r.get_or(2, Value(false)).truthy();
  if (!by.is_string() || (by.as_string() != "key" && by.as_string() != "value")) {
    return invalid_argument("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  }
  if (!input.is_dict()) {
    if (input.is_undefined()) return undefined_error(input);
    return invalid_argument("AttributeError: '" + py_type_name(input) + "' object has no attribute 'items'");
  }
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [key, value] : input.as_dict()) {
    items.push_back(Value::tuple({key, value}));
    const Value& k = by.as_string() == "key" ? key : value;
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                           sort_values(std::move(items), std::move(keys), reverse));
  return Value::list(std::move(sorted));
}

Expected<Value> filter_first(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "first", args, {});
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Expected<Value> filter_last(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "last", args, {});
  if (!input.is_undefined() && !input.is_string() && !input.is_list() && !input.is_dict()) {
    return type_error("'" + py_type_name(input) + "' object is not reversible");
  }
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Expected<Value> filter_items(Interpreter&, const Value& input, const Args& args) {
  READ_ARGS(r, "items", args, {});
  if (input.is_undefined()) return Value::list({});
  if (!input.is_dict()) return type_error("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [key, value] : input.as_dict())
    pairs.push_back(Value::tuple({key, value}));
  return Value::list(std::move(pairs));
}

Expected<Value> filter_join(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "join", args, {"d", "attribute"});
  const Value separator = r.get_or(0, Value(std::string()));
  const Value attribute = r.get_or(1, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  AUTOGLM_ASSIGN_OR_RETURN(const std::string sep, interp.str(separator));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    AUTOGLM_ASSIGN_OR_RETURN(Value item, get_attribute(interp, items[i], attribute));
    if (item.is_string()) {
      out += item.as_string();
    } else {
      AUTOGLM_ASSIGN_OR_RETURN(std::string text, interp.str(item));
      out += text;
    }
    AUTOGLM_RETURN_IF_ERROR(interp.check_size(out.size()));
  }
  return Value(std::move(out));
}

Expected<Value> filter_list(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "list", args, {});
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  return Value::list(std::move(items));
}

Expected<Value> filter_map(Interpreter& interp, const Value& input, const Args& args) {
  if (!input.truthy()) return Value::list({});  // jinja2: `if value:` before iterating
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  std::vector<Value> out;
  out.reserve(items.size());
  if (args.positional.empty()) {
    READ_ARGS(r, "map", args, {"attribute", "default"});
    if (!r.has(0)) return invalid_argument("FilterArgumentError: map requires a filter argument");
    for (const Value& item : items) {
      AUTOGLM_ASSIGN_OR_RETURN(Value v, get_attribute(interp, item, *r.get(0), r.get(1)));
      out.push_back(std::move(v));
    }
    return Value::list(std::move(out));
  }
  if (!args.positional[0].is_string()) return type_error("map() filter name must be a string");
  const std::string& name = args.positional[0].as_string();
  Args rest{{args.positional.begin() + 1, args.positional.end()}, args.keywords};
  for (const Value& item : items) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, interp.apply_filter(name, item, rest));
    out.push_back(std::move(v));
  }
  return Value::list(std::move(out));
}

Expected<Value> min_or_max(Interpreter& interp, const Value& input, const Args& args, bool want_max) {
  READ_ARGS(r, want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = r.get_or(0, Value(false)).truthy();
  const Value attribute = r.get_or(1, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    AUTOGLM_ASSIGN_OR_RETURN(Value key, get_attribute(interp, items[i], attribute));
    if (!case_sensitive) key = ignore_case(key);
    if (i > 0) {
      // Python's max() asks item > best, min() item < best.
      AUTOGLM_ASSIGN_OR_RETURN(bool better,
                               compare(want_max ? CompareOp::kGt : CompareOp::kLt, key, best_key));
      if (!better) continue;
    }
    best = i;
    best_key = std::move(key);
  }
  return items[best];
}

Expected<Value> filter_max(Interpreter& interp, const Value& input, const Args& args) {
  return min_or_max(interp, input, args, true);
}

Expected<Value> filter_min(Interpreter& interp, const Value& input, const Args& args) {
  return min_or_max(interp, input, args, false);
}

// select / reject / selectattr / rejectattr.
Expected<Value> select_items(Interpreter& interp, const Value& input, const Args& args, bool by_attribute,
                             bool keep) {
  if (!input.truthy()) return Value::list({});  // jinja2: `if value:` before iterating
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) return type_error("Missing parameter for attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return type_error("test name must be a string");
    test = args.positional[next++].as_string();
  }
  const Args test_args{{args.positional.begin() + static_cast<ptrdiff_t>(next), args.positional.end()},
                       args.keywords};
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      AUTOGLM_ASSIGN_OR_RETURN(subject, get_attribute(interp, item, attribute));
    }
    bool passed = false;
    if (test.empty()) {
      passed = subject.truthy();
    } else {
      AUTOGLM_ASSIGN_OR_RETURN(passed, interp.apply_test(test, subject, test_args));
    }
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Expected<Value> filter_select(Interpreter& i, const Value& v, const Args& a) {
  return select_items(i, v, a, false, true);
}
Expected<Value> filter_reject(Interpreter& i, const Value& v, const Args& a) {
  return select_items(i, v, a, false, false);
}
Expected<Value> filter_selectattr(Interpreter& i, const Value& v, const Args& a) {
  return select_items(i, v, a, true, true);
}
Expected<Value> filter_rejectattr(Interpreter& i, const Value& v, const Args& a) {
  return select_items(i, v, a, true, false);
}

Expected<Value> filter_reverse(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "reverse", args, {});
  if (input.is_string()) {
    const std::vector<std::string_view> cps = py::code_points(input.as_string());
    std::string out;
    out.reserve(input.as_string().size());
    for (auto it = cps.rbegin(); it != cps.rend(); ++it)
      out += *it;
    return Value(std::move(out));
  }
  Expected<std::vector<Value>> listed = interp.iterate(input);
  if (!listed.has_value()) return invalid_argument("FilterArgumentError: argument must be iterable");
  std::vector<Value> items = std::move(listed).value();
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Expected<Value> filter_slice(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "slice", args, {"slices", "fill_with"});
  if (!r.has(0) || !(r.get(0)->is_int() || r.get(0)->is_bool()))
    return type_error("slice() needs an integer");
  const int64_t slices = r.get(0)->as_int();
  const Value fill = r.get_or(1, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> seq, interp.iterate(input));
  if (slices <= 0) return value_error("ZeroDivisionError: integer division or modulo by zero");
  AUTOGLM_RETURN_IF_ERROR(interp.check_size(static_cast<size_t>(slices)));
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per_slice = length / slices;
  const int64_t with_extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t n = 0; n < slices; ++n) {
    const int64_t start = offset + n * per_slice;
    if (n < with_extra) ++offset;
    const int64_t end = offset + (n + 1) * per_slice;
    std::vector<Value> part(seq.begin() + start, seq.begin() + end);
    if (!fill.is_none() && n >= with_extra) part.push_back(fill);
    out.push_back(Value::list(std::move(part)));
  }
  return Value::list(std::move(out));
}

Expected<Value> filter_sort(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = r.get_or(0, Value(false)).truthy();
  const bool case_sensitive = r.get_or(1, Value(false)).truthy();
  const Value attribute = r.get_or(2, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  std::vector<Value> attributes;
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    const std::string comma = ",";
    for (const std::string& part : py::split(attribute.as_string(), &comma, -1))
      attributes.emplace_back(part);
  } else {
    attributes.push_back(attribute);
  }
  std::vector<Value> keys;
  for (const Value& item : items) {
    std::vector<Value> parts;
    for (const Value& a : attributes) {
      AUTOGLM_ASSIGN_OR_RETURN(Value key, get_attribute(interp, item, a));
      parts.push_back(case_sensitive ? key : ignore_case(key));
    }
    keys.push_back(parts.size() == 1 ? parts[0] : Value::list(std::move(parts)));
  }
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                           sort_values(std::move(items), std::move(keys), reverse));
  return Value::list(std::move(sorted));
}

Expected<Value> filter_sum(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "sum", args, {"attribute", "start"});
  const Value attribute = r.get_or(0, Value::none());
  Value total = r.get_or(1, Value(int64_t{0}));
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  for (const Value& item : items) {
    AUTOGLM_ASSIGN_OR_RETURN(Value v, get_attribute(interp, item, attribute));
    if (v.is_string())
      return type_error("unsupported operand type(s) for +: '" + py_type_name(total) + "' and 'str'");
    AUTOGLM_ASSIGN_OR_RETURN(total, binary_op(interp, BinaryOp::kAdd, total, v));
  }
  return total;
}

Expected<Value> filter_unique(Interpreter& interp, const Value& input, const Args& args) {
  READ_ARGS(r, "unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = r.get_or(0, Value(false)).truthy();
  const Value attribute = r.get_or(1, Value::none());
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, interp.iterate(input));
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : items) {
    AUTOGLM_ASSIGN_OR_RETURN(Value key, get_attribute(interp, item, attribute));
    if (!case_sensitive) key = ignore_case(key);
    AUTOGLM_RETURN_IF_ERROR(check_hashable(key));
    bool duplicate = false;
    for (const Value& s : seen)
      duplicate = duplicate || py_equal(s, key);
    if (duplicate) continue;
    seen.push_back(std::move(key));
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

#undef READ_ARGS

constexpr NamedFilter kSequenceFilters[] = {
    {"batch", filter_batch},
    {"count", filter_length},
    {"dictsort", filter_dictsort},
    {"first", filter_first},
    {"items", filter_items},
    {"join", filter_join},
    {"last", filter_last},
    {"length", filter_length},
    {"list", filter_list},
    {"map", filter_map},
    {"max", filter_max},
    {"min", filter_min},
    {"reject", filter_reject},
    {"rejectattr", filter_rejectattr},
    {"reverse", filter_reverse},
    {"select", filter_select},
    {"selectattr", filter_selectattr},
    {"slice", filter_slice},
    {"sort", filter_sort},
    {"sum", filter_sum},
    {"unique", filter_unique},
};

}  // namespace

std::span<const NamedFilter> sequence_filters() {
  return kSequenceFilters;
}

}  // namespace autoglm::jinja

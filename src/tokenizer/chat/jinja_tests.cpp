// jinja2's tests (`x is defined`, `x is string`, `x is divisibleby 3`...). Type tests follow Python's
// isinstance: bool is a number but not an integer test match, Undefined is iterable and a sequence (it has
// __iter__, __len__ and __getitem__), only dicts are mappings.
#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/evaluator.h"
#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {
namespace {

Expected<const Value*> one_arg(const char* name, const Args& args) {
  ArgReader r(name, args, {"other"});
  AUTOGLM_RETURN_IF_ERROR(r.status());
  if (!r.has(0)) return type_error(std::string(name) + "() missing 1 required positional argument");
  return r.get(0);
}

Status no_args(const char* name, const Args& args) {
  return ArgReader(name, args, {}).status();
}

#define SIMPLE_TEST(fn, name, expr)                                   \
  Expected<bool> fn(Interpreter&, const Value& v, const Args& args) { \
    AUTOGLM_RETURN_IF_ERROR(no_args(name, args));                     \
    return (expr);                                                    \
  }

SIMPLE_TEST(test_defined, "defined", !v.is_undefined())
SIMPLE_TEST(test_undefined, "undefined", v.is_undefined())
SIMPLE_TEST(test_none, "none", v.is_none())
SIMPLE_TEST(test_boolean, "boolean", v.is_bool())
SIMPLE_TEST(test_true, "true", v.is_bool() && v.as_bool())
SIMPLE_TEST(test_false, "false", v.is_bool() && !v.as_bool())
SIMPLE_TEST(test_integer, "integer", v.is_int())
SIMPLE_TEST(test_float, "float", v.is_float())
SIMPLE_TEST(test_number, "number", v.is_number())
SIMPLE_TEST(test_string, "string", v.is_string())
SIMPLE_TEST(test_mapping, "mapping", v.is_dict())
SIMPLE_TEST(test_sequence, "sequence", v.is_string() || v.is_list() || v.is_dict() || v.is_undefined())
SIMPLE_TEST(test_iterable, "iterable",
            v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() ||
                (v.is_object() && v.as_object().type_name() == "LoopContext"))
SIMPLE_TEST(test_callable, "callable", v.is_undefined() || (v.is_object() && v.as_object().is_callable()))
SIMPLE_TEST(test_escaped, "escaped", false)

#undef SIMPLE_TEST

Expected<bool> case_test(Interpreter& interp, const Value& v, bool want_lower) {
  // str.islower(): at least one cased character and no cased character of the other case.
  AUTOGLM_ASSIGN_OR_RETURN(const std::string text, interp.str(v));
  bool cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (want_lower ? py::is_upper(d.code_point) : py::is_lower(d.code_point)) return false;
    if (want_lower ? py::is_lower(d.code_point) : py::is_upper(d.code_point)) cased = true;
    pos += d.length;
  }
  return cased;
}

Expected<bool> test_lower(Interpreter& interp, const Value& v, const Args& args) {
  AUTOGLM_RETURN_IF_ERROR(no_args("lower", args));
  return case_test(interp, v, true);
}

Expected<bool> test_upper(Interpreter& interp, const Value& v, const Args& args) {
  AUTOGLM_RETURN_IF_ERROR(no_args("upper", args));
  return case_test(interp, v, false);
}

// jinja2: value % 2 == 1 (so a string fails like Python's str % int).
Expected<bool> parity(Interpreter& interp, const Value& v, const Args& args, const char* name, int64_t want) {
  AUTOGLM_RETURN_IF_ERROR(no_args(name, args));
  AUTOGLM_ASSIGN_OR_RETURN(Value rest, binary_op(interp, BinaryOp::kMod, v, Value(int64_t{2})));
  return py_equal(rest, Value(want));
}

Expected<bool> test_odd(Interpreter& i, const Value& v, const Args& args) {
  return parity(i, v, args, "odd", 1);
}
Expected<bool> test_even(Interpreter& i, const Value& v, const Args& args) {
  return parity(i, v, args, "even", 0);
}

Expected<bool> test_divisibleby(Interpreter& interp, const Value& v, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(const Value* num, one_arg("divisibleby", args));
  AUTOGLM_ASSIGN_OR_RETURN(Value rest, binary_op(interp, BinaryOp::kMod, v, *num));
  return py_equal(rest, Value(int64_t{0}));
}

Expected<bool> test_sameas(Interpreter&, const Value& v, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(const Value* other, one_arg("sameas", args));
  if (v.kind() != other->kind()) return false;
  if (v.is_string() || v.is_list() || v.is_dict() || v.is_object()) return v.identity() == other->identity();
  return py_equal(v, *other);
}

Expected<bool> test_in(Interpreter&, const Value& v, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(const Value* seq, one_arg("in", args));
  return contains(*seq, v);
}

template <CompareOp kOp>
Expected<bool> test_compare(Interpreter&, const Value& v, const Args& args) {
  AUTOGLM_ASSIGN_OR_RETURN(const Value* other, one_arg("compare", args));
  return compare(kOp, v, *other);
}

Expected<bool> test_filter(Interpreter&, const Value& v, const Args& args) {
  AUTOGLM_RETURN_IF_ERROR(no_args("filter", args));
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

Expected<bool> test_test(Interpreter&, const Value& v, const Args& args) {
  AUTOGLM_RETURN_IF_ERROR(no_args("test", args));
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

constexpr NamedTest kTests[] = {
    {"defined", test_defined},
    {"undefined", test_undefined},
    {"none", test_none},
    {"boolean", test_boolean},
    {"true", test_true},
    {"false", test_false},
    {"integer", test_integer},
    {"float", test_float},
    {"number", test_number},
    {"string", test_string},
    {"mapping", test_mapping},
    {"sequence", test_sequence},
    {"iterable", test_iterable},
    {"callable", test_callable},
    {"escaped", test_escaped},
    {"lower", test_lower},
    {"upper", test_upper},
    {"odd", test_odd},
    {"even", test_even},
    {"divisibleby", test_divisibleby},
    {"sameas", test_sameas},
    {"in", test_in},
    {"filter", test_filter},
    {"test", test_test},
    {"==", test_compare<CompareOp::kEq>},
    {"eq", test_compare<CompareOp::kEq>},
    {"equalto", test_compare<CompareOp::kEq>},
    {"!=", test_compare<CompareOp::kNe>},
    {"ne", test_compare<CompareOp::kNe>},
    {">", test_compare<CompareOp::kGt>},
    {"gt", test_compare<CompareOp::kGt>},
    {"greaterthan", test_compare<CompareOp::kGt>},
    {">=", test_compare<CompareOp::kGtEq>},
    {"ge", test_compare<CompareOp::kGtEq>},
    {"<", test_compare<CompareOp::kLt>},
    {"lt", test_compare<CompareOp::kLt>},
    {"lessthan", test_compare<CompareOp::kLt>},
    {"<=", test_compare<CompareOp::kLtEq>},
    {"le", test_compare<CompareOp::kLtEq>},
};

}  // namespace

std::span<const NamedTest> builtin_tests() {
  return kTests;
}

}  // namespace autoglm::jinja

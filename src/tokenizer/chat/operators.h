// Python's operators on template values: arithmetic with int/float/bool promotion, str and list
// concatenation and repetition, printf-style `str % args`, comparisons (chained by the evaluator),
// membership, and slicing. Errors carry Python's exception name and message ("TypeError: unsupported operand
// type(s) for
// -: 'str' and 'int'"). Internal to the chat template implementation.
#pragma once

#include <optional>
#include <string>

#include "core/status.h"
#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

class Interpreter;

// The error for using an Undefined where a value is needed: UndefinedError with its message, or the
// SecurityError of an attribute the sandbox refused.
Status undefined_error(const Value& undefined);

Expected<Value> binary_op(Interpreter& interp, BinaryOp op, const Value& a, const Value& b);
Expected<Value> negate(const Value& value);
Expected<Value> unary_plus(const Value& value);
Expected<bool> compare(CompareOp op, const Value& a, const Value& b);
// Python's `item in container`.
Expected<bool> contains(const Value& container, const Value& item);
// Python's a < b for sorting (numbers, strings, and sequences of those); TypeError otherwise.
Expected<bool> less_than(const Value& a, const Value& b);
// obj[start:stop:step] on str (by code point), list and tuple.
Expected<Value> slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Python's hash() precondition for dict keys and set members: lists and dicts (also inside tuples) are
// unhashable.
Status check_hashable(const Value& key);
// Python's index normalization for obj[i]: nullopt when out of range.
std::optional<size_t> normalize_index(int64_t index, size_t size);

}  // namespace autoglm::jinja

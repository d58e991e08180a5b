// Python's string formatting on template values: printf-style `format % args`, str.format() with its field
// syntax ({0}, {name}, {0.attr}, {0[key]}, !r/!s conversions, nested {width} in specs) and the format-spec
// mini-language ([[fill]align][sign][#][0][width][,|_][.precision][type]) for str, int and float.
// Internal to the chat template implementation.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

class Interpreter;

// format % args: a tuple supplies several arguments, a dict named ones (%(name)s), anything else one.
// kResourceExhausted once the result exceeds max_bytes.
Expected<std::string> percent_format(std::string_view format, const Value& args, size_t max_bytes);
// format.format(*args, **kwargs), bounded by the interpreter's size limit.
Expected<std::string> str_format(Interpreter& interp, std::string_view format, const Args& args);
// format(value, spec); the text of a value without spec stops growing past max_bytes (see py_str).
Expected<std::string> format_value(const Value& value, std::string_view spec, size_t max_bytes);

}  // namespace autoglm::jinja

// Python's text semantics on UTF-8 strings, as chat templates observe them through Jinja2: which characters
// are whitespace (str.isspace, regex \s), which are printable (repr escapes the others), case mapping, code
// point counting and slicing, and the shortest round-trip repr of floats.
//
// Character classes come from libraries, not tables of ours: printability from PCRE2's Unicode properties
// (categories C and Z, the same Unicode version as CPython 3.11), case mapping and letter classes from
// glibc's C.UTF-8 locale (towupper_l and friends). Case mapping is Unicode's simple mapping plus 'ß' -> "SS";
// the other special casings of Python's full mapping (ligatures, final sigma) are not applied.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace autoglm::jinja::py {

// str.isspace() of one code point; also what Python's regex \s and str.strip()/split() treat as whitespace.
bool is_space(char32_t c);
// str.isprintable() of one code point.
bool is_printable(char32_t c);
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
bool is_cased(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);

bool is_ascii(std::string_view s);
// Number of code points (Python's len()).
size_t length(std::string_view s);
// Byte offset of every code point start, plus s.size() at the end (size length(s) + 1).
std::vector<size_t> code_point_offsets(std::string_view s);
// Code points of s as UTF-8 pieces (iteration over a string).
std::vector<std::string_view> code_points(std::string_view s);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
// str.title(), str.capitalize(), str.swapcase().
std::string title(std::string_view s);
std::string capitalize(std::string_view s);
std::string swapcase(std::string_view s);

// str.strip(chars): chars == nullptr strips whitespace.
std::string_view strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(sep, maxsplit) / str.rsplit: sep == nullptr splits on whitespace runs.
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.splitlines(keepends).
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count);
// str.count(sub) over the whole string.
int64_t count(std::string_view s, std::string_view sub);
// str.find(sub) / rfind as code point indexes, -1 when absent.
int64_t find(std::string_view s, std::string_view sub, bool reverse);

// A non-negative decimal integer made of ASCII digits only; nullopt if empty, not digits, or beyond 64 bits.
std::optional<int64_t> parse_decimal(std::string_view digits);

// repr() of a float: shortest round-trip digits, fixed notation for exponents in [-4, 16), else scientific
// ("1e+16", "1e-05"), "inf", "-inf", "nan".
std::string float_repr(double value);
// repr() of a str: single quotes unless the text contains ' and no ", escapes for \\, \n, \r, \t and
// non-printable code points (\xNN, \uNNNN, \UNNNNNNNN).
std::string string_repr(std::string_view s);

}  // namespace autoglm::jinja::py

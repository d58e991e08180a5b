#include "tokenizer/chat/py_text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <locale.h>  // NOLINT(modernize-deprecated-headers): newlocale and the *_l functions are POSIX
#include <wctype.h>  // NOLINT(modernize-deprecated-headers)
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cwctype>

#include "tokenizer/utf8.h"

namespace autoglm::jinja::py {
namespace {

// glibc's C.UTF-8 locale carries the Unicode case tables; null if the system lacks it (ASCII only then).
locale_t utf8_locale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return locale;
}

// Matches one code point of Unicode category C (control, format, unassigned, private use, surrogate) or Z
// (separators): the characters str.isprintable() rejects, apart from the ASCII space.
struct NonPrintablePattern {
  pcre2_code* code = nullptr;
  NonPrintablePattern() {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>("[\\p{C}\\p{Z}]"), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &error, &offset, nullptr);
  }
};

void append_hex(std::string& out, uint32_t value, int digits) {
  static const char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(kHex[(value >> (4 * i)) & 0xF]);
}

template <typename F>
std::string map_code_points(std::string_view s, F&& f) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const utf8::Decoded d = utf8::decode(s, pos);
    f(out, d.code_point);
    pos += d.length;
  }
  return out;
}

void append_upper(std::string& out, char32_t c) {
  if (c == 0xDF) {  // 'ß' has no single-character uppercase; Python's full mapping gives "SS"
    out += "SS";
    return;
  }
  utf8::append(out, to_upper(c));
}

bool in_set(char32_t c, const std::u32string& set) {
  return set.find(c) != std::u32string::npos;
}

}  // namespace

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_printable(char32_t c) {
  if (c < 0x80) return c >= 0x20 && c < 0x7F;
  static const NonPrintablePattern pattern;
  if (pattern.code == nullptr) return true;
  const std::string encoded = utf8::encode(c);
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  const int rc = pcre2_match(pattern.code, reinterpret_cast<PCRE2_SPTR>(encoded.data()), encoded.size(), 0, 0,
                             match, nullptr);
  pcre2_match_data_free(match);
  return rc < 0;
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return utf8_locale() != nullptr && iswalpha_l(static_cast<wint_t>(c), utf8_locale());
}

bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return utf8_locale() != nullptr && iswdigit_l(static_cast<wint_t>(c), utf8_locale());
}

bool is_upper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  return utf8_locale() != nullptr && iswupper_l(static_cast<wint_t>(c), utf8_locale());
}

bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return c == 0xDF || (utf8_locale() != nullptr && iswlower_l(static_cast<wint_t>(c), utf8_locale()));
}

bool is_cased(char32_t c) {
  return is_upper(c) || is_lower(c) || to_upper(c) != c || to_lower(c) != c;
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (utf8_locale() == nullptr) return c;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), utf8_locale()));
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (utf8_locale() == nullptr) return c;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), utf8_locale()));
}

bool is_ascii(std::string_view s) {
  for (const char ch : s) {
    if (static_cast<unsigned char>(ch) >= 0x80) return false;
  }
  return true;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return utf8::count_code_points(s);
}

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t pos = 0; pos < s.size();) {
    offsets.push_back(pos);
    pos += utf8::decode(s, pos).length;
  }
  offsets.push_back(s.size());
  return offsets;
}

std::vector<std::string_view> code_points(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = utf8::decode(s, pos).length;
    out.push_back(s.substr(pos, n));
    pos += n;
  }
  return out;
}

std::string upper(std::string_view s) {
  return map_code_points(s, append_upper);
}

std::string lower(std::string_view s) {
  return map_code_points(s, [](std::string& out, char32_t c) { utf8::append(out, to_lower(c)); });
}

std::string swapcase(std::string_view s) {
  return map_code_points(s, [](std::string& out, char32_t c) {
    if (is_upper(c)) {
      utf8::append(out, to_lower(c));
    } else if (is_lower(c)) {
      append_upper(out, c);
    } else {
      utf8::append(out, c);
    }
  });
}

std::string title(std::string_view s) {
  bool previous_cased = false;
  return map_code_points(s, [&](std::string& out, char32_t c) {
    if (previous_cased) {
      utf8::append(out, to_lower(c));
    } else {
      append_upper(out, c);
    }
    previous_cased = is_cased(c);
  });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_code_points(s, [&](std::string& out, char32_t c) {
    if (first) {
      append_upper(out, c);
    } else {
      utf8::append(out, to_lower(c));
    }
    first = false;
  });
}

std::string_view strip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::u32string set;
  if (chars != nullptr) set = utf8::to_code_points(*chars);
  auto stripped = [&](char32_t c) { return chars == nullptr ? is_space(c) : in_set(c, set); };
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end) {
      const utf8::Decoded d = utf8::decode(s, begin);
      if (!stripped(d.code_point)) break;
      begin += d.length;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
        --start;
      const utf8::Decoded d = utf8::decode(s, start);
      if (start + d.length != end || !stripped(d.code_point)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep != nullptr) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t hit = s.find(*sep, start);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(start, hit - start));
      start = hit + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  size_t pos = 0;
  auto skip_space = [&] {
    while (pos < s.size()) {
      const utf8::Decoded d = utf8::decode(s, pos);
      if (!is_space(d.code_point)) break;
      pos += d.length;
    }
  };
  skip_space();
  while (pos < s.size()) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.emplace_back(s.substr(pos));
      return out;
    }
    const size_t start = pos;
    while (pos < s.size()) {
      const utf8::Decoded d = utf8::decode(s, pos);
      if (is_space(d.code_point)) break;
      pos += d.length;
    }
    out.emplace_back(s.substr(start, pos - start));
    skip_space();
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep != nullptr) {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
    return {out.rbegin(), out.rend()};
  }
  const std::vector<size_t> offsets = code_point_offsets(s);
  auto space_at = [&](size_t i) { return is_space(utf8::decode(s, offsets[i]).code_point); };
  size_t i = offsets.size() - 1;  // code point index one past the current position
  while (i > 0 && space_at(i - 1))
    --i;
  while (i > 0) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.emplace_back(s.substr(0, offsets[i]));
      break;
    }
    const size_t end = i;
    while (i > 0 && !space_at(i - 1))
      --i;
    out.emplace_back(s.substr(offsets[i], offsets[end] - offsets[i]));
    while (i > 0 && space_at(i - 1))
      --i;
  }
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos = 0; pos < s.size();) {
    const utf8::Decoded d = utf8::decode(s, pos);
    const char32_t c = d.code_point;
    const bool is_break = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
                          c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!is_break) {
      pos += d.length;
      continue;
    }
    size_t next = pos + d.length;
    if (c == '\r' && next < s.size() && s[next] == '\n') ++next;
    out.emplace_back(s.substr(start, (keepends ? next : pos) - start));
    start = pos = next;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement before every code point and at the end.
    int64_t done = 0;
    for (const std::string_view cp : code_points(s)) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(old_text, start);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(start, hit - start));
    out.append(new_text);
    start = hit + old_text.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size()))
    ++n;
  return n;
}

int64_t find(std::string_view s, std::string_view sub, bool reverse) {
  const size_t hit = reverse ? s.rfind(sub) : s.find(sub);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, hit)));
}

std::optional<int64_t> parse_decimal(std::string_view digits) {
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t value = 0;
  const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (result.ec != std::errc() || result.ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  const std::string_view text(buf, static_cast<size_t>(result.ptr - buf));
  // text looks like "-1.2345e+02": sign, digits with one dot, exponent.
  std::string out;
  size_t pos = 0;
  if (text[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  const size_t e = text.find('e');
  std::string digits;
  for (size_t i = pos; i < e; ++i) {
    if (text[i] != '.') digits.push_back(text[i]);
  }
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(), exponent);
  const int decpt = exponent + 1;
  const int ndigits = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= ndigits) {
      out += digits + std::string(static_cast<size_t>(decpt - ndigits), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (ndigits > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exp_buf;
  return out;
}

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(quote);
  for (size_t pos = 0; pos < s.size();) {
    const utf8::Decoded d = utf8::decode(s, pos);
    const char32_t c = d.code_point;
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) {
        out += "\\x";
        append_hex(out, c, 2);
      } else {
        out.push_back(static_cast<char>(c));
      }
    } else if (is_printable(c)) {
      out.append(s.substr(pos, d.length));
    } else if (c <= 0xFF) {
      out += "\\x";
      append_hex(out, c, 2);
    } else if (c <= 0xFFFF) {
      out += "\\u";
      append_hex(out, c, 4);
    } else {
      out += "\\U";
      append_hex(out, c, 8);
    }
    pos += d.length;
  }
  out.push_back(quote);
  return out;
}

}  // namespace autoglm::jinja::py

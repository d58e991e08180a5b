// UTF-8 decoding with maximal-subpart replacement (see utf8.h); the table of well-formed byte sequences is
// Unicode's Table 3-7.
#include "tokenizer/utf8.h"

#include "tokenizer/tokenizer.h"

namespace autoglm::utf8 {
namespace {

// Range of the second byte allowed after a lead byte (Table 3-7); later bytes are always 80..BF.
struct SecondByteRange {
  uint8_t lo;
  uint8_t hi;
};

SecondByteRange second_byte_range(uint8_t lead) {
  switch (lead) {
    case 0xE0:
      return {0xA0, 0xBF};
    case 0xED:
      return {0x80, 0x9F};
    case 0xF0:
      return {0x90, 0xBF};
    case 0xF4:
      return {0x80, 0x8F};
    default:
      return {0x80, 0xBF};
  }
}

bool is_continuation(uint8_t b) {
  return (b & 0xC0) == 0x80;
}

}  // namespace

int sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 0;
}

Decoded decode(std::string_view text, size_t pos) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  const uint8_t lead = p[pos];
  if (lead < 0x80) return {lead, 1, true};
  const int len = sequence_length(lead);
  if (len == 0) return {kReplacementChar, 1, false};
  const SecondByteRange range = second_byte_range(lead);
  char32_t cp = lead & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (int i = 1; i < len; ++i) {
    if (pos + i >= n) return {kReplacementChar, static_cast<uint32_t>(i), false};
    const uint8_t b = p[pos + i];
    const bool ok = i == 1 ? (b >= range.lo && b <= range.hi) : is_continuation(b);
    if (!ok) return {kReplacementChar, static_cast<uint32_t>(i), false};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, static_cast<uint32_t>(len), true};
}

void append(std::string& out, char32_t cp) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > kMaxCodePoint) cp = kReplacementChar;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode(char32_t cp) {
  std::string out;
  append(out, cp);
  return out;
}

bool is_valid(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Decoded d = decode(text, pos);
    if (!d.valid) return false;
    pos += d.length;
  }
  return true;
}

std::string sanitize(std::string_view text) {
  if (is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t pos = 0;
  while (pos < text.size()) {
    const Decoded d = decode(text, pos);
    if (d.valid) {
      out.append(text.substr(pos, d.length));
    } else {
      append(out, kReplacementChar);
    }
    pos += d.length;
  }
  return out;
}

std::u32string to_code_points(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const Decoded d = decode(text, pos);
    out.push_back(d.code_point);
    pos += d.length;
  }
  return out;
}

std::string from_code_points(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t cp : code_points)
    append(out, cp);
  return out;
}

size_t incomplete_suffix_length(std::string_view text) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end with only valid bytes so far.
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t start = n - back;
    const uint8_t b = static_cast<uint8_t>(text[start]);
    if (is_continuation(b)) continue;
    const int len = sequence_length(b);
    if (len <= static_cast<int>(back)) return 0;
    const Decoded d = decode(text, start);
    // decode stops at the end of the text with length == back when every byte so far was acceptable.
    return (!d.valid && d.length == back) ? back : 0;
  }
  return 0;
}

size_t count_code_points(std::string_view text) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    pos += decode(text, pos).length;
    ++count;
  }
  return count;
}

}  // namespace autoglm::utf8

namespace autoglm {

std::string sanitize_utf8(std::string_view text) {
  return utf8::sanitize(text);
}

}  // namespace autoglm

// UTF-8 helpers shared by every tokenizer of the module: decoding and encoding code points, validation, and
// the replacement of ill-formed input by U+FFFD.
//
// Replacement follows the Unicode "maximal subpart" practice (Unicode 15, section 3.9, U+FFFD substitution of
// maximal subparts), which is exactly what Python's bytes.decode('utf-8', 'replace') does: a lead byte and
// the continuation bytes that can still start a well-formed sequence are replaced together by one U+FFFD,
// every other ill-formed byte by its own U+FFFD. Surrogates (ED A0..BF), overlongs (C0, C1, E0 80..9F,
// F0 80..8F) and code points above U+10FFFF (F4 90.., F5..FF) are ill-formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace autoglm::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

// One step of decoding at a position.
struct Decoded {
  char32_t code_point = kReplacementChar;  // kReplacementChar when !valid
  uint32_t length = 1;  // bytes consumed: the sequence, or the maximal ill-formed subpart (>= 1)
  bool valid = false;
};

// Decodes the code point starting at text[pos] (pos < text.size()).
Decoded decode(std::string_view text, size_t pos);

// Length of the sequence announced by a lead byte (1..4), or 0 for a byte that cannot start one
// (continuation bytes 80..BF, C0, C1, F5..FF).
int sequence_length(uint8_t lead);

// Appends the UTF-8 encoding of a code point. Surrogates and values above U+10FFFF append U+FFFD.
void append(std::string& out, char32_t code_point);
std::string encode(char32_t code_point);

bool is_valid(std::string_view text);

// Replaces every maximal ill-formed subpart by U+FFFD; valid input is returned unchanged.
std::string sanitize(std::string_view text);

// Decodes text into code points (ill-formed subparts become U+FFFD).
std::u32string to_code_points(std::string_view text);
std::string from_code_points(std::u32string_view code_points);

// Number of bytes at the end of `text` that form the start of a sequence that is not yet complete but could
// still be completed by more bytes (0..3). A streaming decoder holds these back until the next piece arrives.
size_t incomplete_suffix_length(std::string_view text);

// Number of code points; ill-formed subparts count as one each.
size_t count_code_points(std::string_view text);

}  // namespace autoglm::utf8

// GPT-2's byte-level alphabet: every byte is shown as one printable code point (printable Latin-1 bytes as
// themselves, the others as U+0100 + n in byte order), so that byte strings can live in a text vocabulary.
// "Ġ" (U+0120) is the space, "Ċ" (U+010A) the newline.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace autoglm::hf::byte_level {

// The code point that stands for a byte.
char32_t byte_to_char(uint8_t byte);
// The UTF-8 encoding of byte_to_char(byte), precomputed.
std::string_view byte_to_utf8(uint8_t byte);
// The byte a code point stands for, if it is one of the 256.
std::optional<uint8_t> char_to_byte(char32_t c);

// Maps every byte of `bytes` to its character (UTF-8), appending to `out`.
void encode(std::string_view bytes, std::string& out);
// Maps every character back to its byte; nullopt if some character is outside the alphabet.
std::optional<std::string> decode(std::string_view text);

}  // namespace autoglm::hf::byte_level

#include "tokenizer/hf/byte_level.h"

#include "tokenizer/utf8.h"

namespace autoglm::hf::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 512> from_char{};  // code points below 512 -> byte, or -1

  Tables() {
    from_char.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    }
    for (int b = 0; b < 256; ++b) {
      to_utf8[b] = utf8::encode(to_char[b]);
      from_char[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t byte) {
  return tables().to_char[byte];
}

std::string_view byte_to_utf8(uint8_t byte) {
  return tables().to_utf8[byte];
}

std::optional<uint8_t> char_to_byte(char32_t c) {
  if (c >= 512) return std::nullopt;
  const int16_t b = tables().from_char[c];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char ch : bytes)
    out += t.to_utf8[static_cast<uint8_t>(ch)];
}

std::optional<std::string> decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (!d.valid) return std::nullopt;
    const auto b = char_to_byte(d.code_point);
    if (!b) return std::nullopt;
    out.push_back(static_cast<char>(*b));
    pos += d.length;
  }
  return out;
}

}  // namespace autoglm::hf::byte_level

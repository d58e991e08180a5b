#include "tokenizer/native/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace autoglm::native {
namespace {

struct ByteLevelTables {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, 324> cp_to_byte{};  // code points 0..323 cover the whole mapping
  ByteLevelTables() {
    cp_to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byte_to_cp[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      byte_to_utf8[b] = utf8::encode(byte_to_cp[b]);
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

std::string_view byte_to_unicode(uint8_t b) {
  return tables().byte_to_utf8[b];
}

void append_byte_level(std::string& out, std::string_view bytes) {
  const ByteLevelTables& t = tables();
  for (char c : bytes)
    out += t.byte_to_utf8[static_cast<uint8_t>(c)];
}

std::string to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  append_byte_level(out, bytes);
  return out;
}

bool from_byte_level(std::string_view text, std::string& out) {
  const ByteLevelTables& t = tables();
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (!d.valid || d.code_point >= t.cp_to_byte.size() || t.cp_to_byte[d.code_point] < 0) return false;
    out.push_back(static_cast<char>(t.cp_to_byte[d.code_point]));
    pos += d.length;
  }
  return true;
}

}  // namespace autoglm::native

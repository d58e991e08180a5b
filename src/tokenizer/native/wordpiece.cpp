#include "tokenizer/native/wordpiece.h"

#include <utf8proc.h>

#include "tokenizer/utf8.h"

namespace autoglm::native {
namespace {

// The first code point of the full canonical decomposition of c (Python's unicodedata.normalize('NFD', c)[0],
// from which llama.cpp's table is generated).
char32_t decomposition_base(char32_t c) {
  if (c < 0xC0) return c;
  utf8proc_int32_t buffer[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
  return n > 0 ? static_cast<char32_t>(buffer[0]) : c;
}

bool is_white_space(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// llm_tokenizer_wpm_session::is_chinese_char (with its 0x2B920 quirk, copied from HF's Rust code).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

}  // namespace

std::vector<std::string> wordpiece_words(std::string_view text, const WordPieceNormalizer& options) {
  std::vector<std::string> words(1);
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    pos += d.length;
    const char32_t c = options.strip_accents ? decomposition_base(d.code_point) : d.code_point;
    if (is_white_space(c)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    const bool control = category == UTF8PROC_CATEGORY_CC || category == UTF8PROC_CATEGORY_CF ||
                         category == UTF8PROC_CATEGORY_CO || category == UTF8PROC_CATEGORY_CS;
    if (c == 0 || c == utf8::kReplacementChar || control) continue;
    const bool mark = category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_MC ||
                      category == UTF8PROC_CATEGORY_ME;
    if (options.strip_accents && mark) continue;
    const bool punctuation = category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
    const bool symbol = category >= UTF8PROC_CATEGORY_SM && category <= UTF8PROC_CATEGORY_SO;
    std::string s;
    utf8::append(
        s, options.lowercase ? static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))) : c);
    if (punctuation || (c < 0x7F && symbol) || is_chinese_char(c)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void wordpiece_encode_word(std::string_view word, const PieceMap& ids, size_t max_token_bytes, int32_t unk_id,
                           std::vector<int32_t>& out) {
  if (word.empty()) return;
  const std::string prefixed = "\xE2\x96\x81" + std::string(word);
  const size_t n = prefixed.size();
  const size_t first = out.size();
  for (size_t i = 0; i < n; ++i) {
    bool matched = false;
    for (size_t j = std::min(n, i + max_token_bytes + 1); j > i; --j) {
      const int32_t id = ids.find(std::string_view(prefixed).substr(i, j - i));
      if (id >= 0) {
        out.push_back(id);
        matched = true;
        i = j - 1;
        break;
      }
    }
    if (!matched) {
      out.resize(first);
      break;
    }
  }
  if (out.size() == first && unk_id >= 0) out.push_back(unk_id);
}

}  // namespace autoglm::native

// Unicode character properties and normalization forms used by the HF pipeline, from utf8proc (Debian
// libutf8proc, pkg-config libutf8proc). The predicates mirror the Rust functions `tokenizers` calls, so their
// names say which one: rust_is_whitespace is char::is_whitespace (the White_Space property), and so on.
//
// Known differences, measured over every code point against tokenizers 0.23.3 (whose unicode_categories and
// normalization crates carry older Unicode tables than utf8proc's Unicode 15): clean_text keeps 20 format
// characters that we remove, 129 punctuation, 421 nonspacing-mark and 262 mark decisions, 55 lowercase and
// 134 NFKC mappings differ. All are characters assigned (or recategorized) after Unicode 9 -- e.g. U+0890,
// U+0898..089F, U+13430.. -- none of the test corpus uses them; NFC agrees on every code point.
#pragma once

#include <string>
#include <string_view>

namespace autoglm::hf::unicode {

// char::is_whitespace: the White_Space property (categories Zs/Zl/Zp, U+0009..U+000D, U+0085).
bool rust_is_whitespace(char32_t c);
// char::is_numeric: categories Nd, Nl, No.
bool rust_is_numeric(char32_t c);
// unicode_categories' is_other as it behaves (Cc, Cf, Co, Cs; unassigned code points are kept): what
// BertNormalizer's clean_text removes.
bool is_other(char32_t c);
// unicode_categories' is_punctuation (Pc, Pd, Ps, Pe, Pi, Pf, Po).
bool is_punctuation(char32_t c);
// BERT's punctuation: ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or Unicode P*.
bool is_bert_punctuation(char32_t c);
// Category Mn (unicode_categories' is_mark_nonspacing): what BertNormalizer's strip_accents removes after
// NFD.
bool is_mark_nonspacing(char32_t c);
// Categories Mn, Mc, Me (unicode-normalization's is_combining_mark): what the StripAccents normalizer
// removes.
bool is_mark(char32_t c);
// The CJK ideograph blocks of BERT's handle_chinese_chars.
bool is_chinese_char(char32_t c);

// char::to_lowercase: the full lowercase mapping (U+0130 becomes "i\u0307"), appended as UTF-8.
void append_lowercase(char32_t c, std::string& out);
std::string lowercase(std::string_view text);

enum class NormalizationForm { kNfc, kNfd, kNfkc, kNfkd };
// Input must be valid UTF-8. ASCII text is returned unchanged without calling the library.
std::string normalize(std::string_view text, NormalizationForm form);

// "15.0.0": the Unicode version of the tables in use.
const char* unicode_version();

}  // namespace autoglm::hf::unicode

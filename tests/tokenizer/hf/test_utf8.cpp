// UTF-8 helpers: maximal-subpart replacement exactly as Python's bytes.decode('utf-8', 'replace') (the
// expected strings below are Python's output), decoding/encoding, and the incomplete-suffix rule streaming
// decoders rely on.
#include <gtest/gtest.h>

#include <random>

#include "hf_test_data.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(Utf8, SanitizeMatchesPythonReplace) {
  const std::pair<const char*, const char*> cases[] = {
      {"80", "efbfbd"},                          // lone continuation byte
      {"c0af", "efbfbdefbfbd"},                  // overlong: C0 cannot start a sequence
      {"e080af", "efbfbdefbfbdefbfbd"},          // overlong 3-byte form
      {"eda080", "efbfbdefbfbdefbfbd"},          // UTF-8 encoded surrogate
      {"f09f98", "efbfbd"},                      // truncated 4-byte sequence: one maximal subpart
      {"f4908080", "efbfbdefbfbdefbfbdefbfbd"},  // above U+10FFFF
      {"e4b8e4b8ad", "efbfbde4b8ad"},            // truncated, then a complete character
      {"61ff62", "61efbfbd62"},                  // 0xFF
      {"f09f9880", "f09f9880"},                  // valid emoji unchanged
      {"e228a1", "efbfbd28efbfbd"},
      {"f888808080", "efbfbdefbfbdefbfbdefbfbdefbfbd"},  // 5-byte form
      {"c328", "efbfbd28"},
      {"efbfbd", "efbfbd"},  // U+FFFD itself
      {"f09028bc", "efbfbd28efbfbd"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(sanitize_utf8(unhex(in)), unhex(out)) << in;
  }
}

TEST(Utf8, SanitizeKeepsValidTextAndAlwaysReturnsValidText) {
  for (const auto& t : test::tokenizer_corpus()) {
    const std::string s = sanitize_utf8(t.bytes);
    EXPECT_TRUE(utf8::is_valid(s));
    if (utf8::is_valid(t.bytes)) {
      EXPECT_EQ(s, t.bytes);
    }
    EXPECT_EQ(utf8::sanitize(s), s);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 16, '\0');
    for (char& c : bytes)
      c = static_cast<char>(rng());
    EXPECT_TRUE(utf8::is_valid(sanitize_utf8(bytes))) << test::escape_bytes(bytes);
  }
}

TEST(Utf8, DecodeAndEncodeRoundTrip) {
  for (char32_t cp :
       {char32_t{0}, char32_t{0x41}, char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF}, char32_t{0x800},
        char32_t{0xFFFD}, char32_t{0xFFFF}, char32_t{0x10000}, char32_t{0x1F600}, char32_t{0x10FFFF}}) {
    const std::string s = utf8::encode(cp);
    const utf8::Decoded d = utf8::decode(s, 0);
    EXPECT_TRUE(d.valid);
    EXPECT_EQ(d.code_point, cp);
    EXPECT_EQ(d.length, s.size());
  }
  EXPECT_EQ(utf8::encode(0xD800), "\xEF\xBF\xBD");  // surrogates are not encodable
  EXPECT_EQ(utf8::encode(0x110000), "\xEF\xBF\xBD");
  EXPECT_EQ(utf8::to_code_points("a\xC3\xA9\xFF"), (std::u32string{U'a', U'\u00e9', U'\ufffd'}));
  EXPECT_EQ(utf8::from_code_points(U"a\u00e9\U0001F600"), "a\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8::count_code_points("a\xC3\xA9\xF0\x9F\x98\x80\xFF"), 4u);
  EXPECT_EQ(utf8::sequence_length(0xC1), 0);
  EXPECT_EQ(utf8::sequence_length(0xF4), 4);
  EXPECT_EQ(utf8::sequence_length(0xF5), 0);
}

TEST(Utf8, IncompleteSuffixLength) {
  EXPECT_EQ(utf8::incomplete_suffix_length(""), 0u);
  EXPECT_EQ(utf8::incomplete_suffix_length("abc"), 0u);
  EXPECT_EQ(utf8::incomplete_suffix_length("ab\xE4"), 1u);
  EXPECT_EQ(utf8::incomplete_suffix_length("ab\xE4\xB8"), 2u);
  EXPECT_EQ(utf8::incomplete_suffix_length("ab\xE4\xB8\xAD"), 0u);  // complete
  EXPECT_EQ(utf8::incomplete_suffix_length("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8::incomplete_suffix_length("\xE0\x80"), 0u);  // can never complete (overlong)
  EXPECT_EQ(utf8::incomplete_suffix_length("\xED\xA0"), 0u);  // surrogate
  EXPECT_EQ(utf8::incomplete_suffix_length("\x80"), 0u);      // stray continuation
  EXPECT_EQ(utf8::incomplete_suffix_length("a\xFF"), 0u);
}

}  // namespace
}  // namespace autoglm

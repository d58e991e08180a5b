// SentencePiece's normalizer (normalizer.cc): the precompiled character map (a darts-clone double-array trie
// of rules, longest match wins), user-defined symbols passed through untouched, extra whitespace removal, the
// dummy prefix, and whitespace escaping to U+2581 "▁".
//
// The charsmap blob is <u32 trie bytes><trie units (u32 each)><NUL-terminated replacement strings>; a leaf's
// value is the offset of its replacement. Lookups are bounds-checked, so a corrupt blob cannot read outside
// it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/native/prefix_trie.h"
#include "tokenizer/native/sentencepiece_model.h"

namespace autoglm::native {

inline constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581

class SpmNormalizer {
 public:
  // user_defined: the model's USER_DEFINED pieces, which the normalizer must not change.
  Status init(const SpmNormalizerSpec& spec, bool treat_whitespace_as_suffix,
              const std::vector<std::string>& user_defined);

  // Normalizes valid UTF-8 text.
  std::string normalize(std::string_view input) const;

  const SpmNormalizerSpec& spec() const { return spec_; }

 private:
  // The replacement of the longest rule matching at the start of input and the bytes it consumes.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;
  // darts-clone commonPrefixSearch: the longest match (length, value), length 0 when none.
  std::pair<size_t, uint32_t> longest_rule(std::string_view input) const;

  SpmNormalizerSpec spec_;
  bool treat_whitespace_as_suffix_ = false;
  std::vector<uint32_t> trie_;
  std::string replacements_;
  PrefixTrie user_defined_;
  bool has_user_defined_ = false;
};

}  // namespace autoglm::native

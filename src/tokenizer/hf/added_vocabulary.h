// Added tokens (tokenizer.json "added_tokens", tokenizer_config.json "added_tokens_decoder"): strings that
// are cut out of the text before the pipeline and become their ids directly, as HF's AddedVocabulary does.
//
// Tokens with normalized=false are searched in the raw text; the remaining text is normalized piece by piece
// and then searched for the tokens with normalized=true (their content normalized the same way). Matching is
// leftmost-longest and non-overlapping (HF builds an Aho-Corasick automaton with that semantics); a match is
// then dropped if it is a special token and special tokens are not parsed, or if single_word is set and a
// word character touches it; lstrip/rstrip widen it over neighbouring White_Space.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/hf/model.h"
#include "tokenizer/hf/normalizers.h"
#include "tokenizer/hf/pieces.h"

namespace autoglm::hf {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = true;
};

class AddedVocabulary {
 public:
  // A run of text (id < 0) or an added token (id >= 0) that the text was cut into.
  struct Split {
    std::string_view text;
    int32_t id = -1;
    bool at_start = false;
  };

  // `tokens` in file order; the normalizer (may be null) rewrites the content of normalized tokens.
  void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Cuts `text` at the added tokens: first the raw ones, then, after normalizing each remaining run (into
  // `arena`), the normalized ones. Empty runs are dropped.
  void extract_and_normalize(std::string_view text, const Normalizer* normalizer, bool parse_special,
                             PieceArena& arena, std::vector<Split>& out) const;

  const AddedToken* find_by_id(int32_t id) const;
  // The string decoding starts from: HF (tokenizers 0.23) gives a normalized token in its normalized form
  // (llama2's "<s>" decodes from "▁<s>"), which is then no special content and never skipped.
  const std::string* decode_piece(int32_t id) const;
  std::optional<int32_t> find_by_content(std::string_view content) const;
  // HF decides "special" by content: any token whose content is that of a special token.
  bool is_special_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  // Leftmost-longest search over a set of patterns.
  struct Matcher {
    std::vector<std::string> patterns;
    std::vector<int32_t> token_index;                     // into tokens_
    std::array<std::vector<int32_t>, 256> by_first_byte;  // pattern indices, longest first
    bool empty() const { return patterns.empty(); }
    void finish();
  };

  void find_matches(std::string_view sentence, const Matcher& matcher, bool parse_special, bool at_start,
                    std::vector<Split>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> by_content_;
  std::unordered_map<std::string, bool, StringHash, std::equal_to<>> special_contents_;
  std::unordered_map<int32_t, std::string> normalized_forms_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace autoglm::hf

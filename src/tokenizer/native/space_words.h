// Cutting SentencePiece-style text (spaces escaped as ▁ U+2581) into words that BPE can merge independently.
//
// BPE only ever forms symbols that are vocabulary pieces. If no piece contains a ▁ right after another
// character, no symbol can span the point before such a ▁, so the text can be cut there and each word merged
// on its own with the same result (the merge order only matters among pairs that interact, and no pair
// crosses a cut). The same holds after a ▁ followed by another character when no piece contains that. Each
// word can then be cached, and the merge heaps stay small. Unigram is not cut: its Viterbi sums scores along
// the whole text, and restarting them at a cut could flip a near tie.
#pragma once

#include <string_view>

namespace autoglm::native {

inline constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // ▁

enum class SpaceCut { kNone, kBeforeSpace, kAfterSpace };

// Collects what the pieces allow; `space_is_piece` must be true (an unmerged ▁ must be a known symbol, so
// that a run of unknown characters never spans a cut).
class SpaceCutFinder {
 public:
  void observe(std::string_view piece) {
    for (size_t k = piece.find(kSpaceMark); k != std::string_view::npos; k = piece.find(kSpaceMark, k + 1)) {
      if (k > 0 && !ends_with_space(piece.substr(0, k))) before_ok_ = false;
      const size_t next = k + kSpaceMark.size();
      if (next < piece.size() && piece.substr(next, kSpaceMark.size()) != kSpaceMark) after_ok_ = false;
    }
  }
  SpaceCut result(bool space_is_piece) const {
    if (!space_is_piece) return SpaceCut::kNone;
    if (before_ok_) return SpaceCut::kBeforeSpace;
    if (after_ok_) return SpaceCut::kAfterSpace;
    return SpaceCut::kNone;
  }

 private:
  static bool ends_with_space(std::string_view s) {
    return s.size() >= kSpaceMark.size() && s.substr(s.size() - kSpaceMark.size()) == kSpaceMark;
  }
  bool before_ok_ = true;
  bool after_ok_ = true;
};

// Calls visit(word) for consecutive words covering text.
template <typename Visit>
void for_each_space_word(std::string_view text, SpaceCut cut, Visit&& visit) {
  if (cut == SpaceCut::kNone) {
    if (!text.empty()) visit(text);
    return;
  }
  const size_t n = kSpaceMark.size();
  size_t begin = 0;
  for (size_t k = text.find(kSpaceMark); k != std::string_view::npos; k = text.find(kSpaceMark, k + n)) {
    size_t at = std::string_view::npos;
    if (cut == SpaceCut::kBeforeSpace) {
      if (k > 0 && !(k >= n && text.substr(k - n, n) == kSpaceMark)) at = k;
    } else if (k + n < text.size() && text.substr(k + n, n) != kSpaceMark) {
      at = k + n;
    }
    if (at != std::string_view::npos && at > begin) {
      visit(text.substr(begin, at - begin));
      begin = at;
    }
  }
  if (begin < text.size()) visit(text.substr(begin));
}

}  // namespace autoglm::native

// The text pieces that flow through an HF pipeline between the added-token split and the model, and the
// storage for the strings that normalizers and pre-tokenizers create on the way.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace autoglm::hf {

struct Piece {
  std::string_view text;
  // Begins at offset 0 of the original input (what HF's offsets_original().0 == 0 tests, e.g. for
  // Metaspace's prepend_scheme "first").
  bool at_start = false;
};

// Owns strings for the duration of one encode call; views into them stay valid until clear().
class PieceArena {
 public:
  std::string_view keep(std::string text) {
    strings_.push_back(std::move(text));
    return strings_.back();
  }
  void clear() { strings_.clear(); }

 private:
  std::deque<std::string> strings_;
};

// How a piece is cut around the parts a pattern matched (HF SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,             // matches are dropped
  kIsolated,            // matches become pieces of their own
  kMergedWithPrevious,  // a match is glued to the piece before it
  kMergedWithNext,      // a match is glued to the piece after it
  kContiguous,          // consecutive matches form one piece
};

// A run of a piece, matched by the pattern or not; a list of them covers the piece in order.
struct Segment {
  size_t start = 0;
  size_t end = 0;
  bool is_match = false;
};

// Appends the pieces that `behavior` makes of `piece` cut at `segments`; empty pieces are dropped.
void split_by_segments(const Piece& piece, const std::vector<Segment>& segments, SplitBehavior behavior,
                       std::vector<Piece>& out);

}  // namespace autoglm::hf

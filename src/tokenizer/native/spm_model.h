// SentencePiece's segmentation models on normalized text: BPE (bpe_model.cc: merge the adjacent pair whose
// concatenation is the highest-scoring piece, leftmost among equals; UNUSED pieces resegmented into the pair
// that formed them) and Unigram (unigram_model.cc EncodeOptimized: Viterbi over all pieces, unknown
// characters at min score - 10, user-defined pieces favoured), followed by SentencePieceProcessor's byte
// fallback (unknown pieces become their UTF-8 bytes <0xXX> when the model has byte pieces).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/native/piece_map.h"
#include "tokenizer/native/prefix_trie.h"
#include "tokenizer/native/sentencepiece_model.h"
#include "tokenizer/native/space_words.h"
#include "tokenizer/native/word_cache.h"

namespace autoglm::native {

class SpmModel {
 public:
  // Validates the pieces (one UNKNOWN piece, no duplicates, byte pieces only with byte_fallback and named
  // <0x00>..<0xFF>) and builds the lookup tables.
  Status init(const SpmModelProto& proto);

  // Appends the ids of normalized text.
  void encode(std::string_view normalized, std::vector<int32_t>& out) const;

  // PieceToId: NORMAL / USER_DEFINED / UNUSED pieces, then the others; -1 when absent.
  int32_t piece_id(std::string_view piece) const;
  int32_t unk_id() const { return unk_id_; }
  int32_t byte_id(uint8_t b) const { return byte_ids_[b]; }
  SpmPieceType type(int32_t id) const { return pieces_[id].type; }
  const std::string& piece(int32_t id) const { return pieces_[id].piece; }
  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  SpmModelType model_type() const { return model_type_; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  // Model output before byte fallback: (start, length) in the normalized text and id (unk_id_ when unknown).
  struct Segment {
    uint32_t start;
    uint32_t length;
    int32_t id;
  };
  // The model's ids for a piece of normalized text (a whole text, or one word of it).
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<Segment>& out) const;
  void encode_unigram(std::string_view text, std::vector<Segment>& out) const;
  void encode_by_whitespace(std::string_view text, std::vector<Segment>& out) const;

  std::vector<SpmPiece> pieces_;
  SpmModelType model_type_ = SpmModelType::kUnigram;
  bool byte_fallback_ = false;
  PieceMap normal_;    // NORMAL, USER_DEFINED, UNUSED
  PieceMap reserved_;  // CONTROL, UNKNOWN, BYTE
  PrefixTrie trie_;    // pieces of normal_ (Unigram lattice)
  PrefixTrie user_defined_;
  bool has_user_defined_ = false;
  bool has_unused_ = false;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];
  float min_score_ = 0.0f;
  float max_score_ = 0.0f;
  SpaceCut cut_ = SpaceCut::kNone;  // BPE: where the text splits into independently merged (cached) words
  WordCache cache_;
};

}  // namespace autoglm::native

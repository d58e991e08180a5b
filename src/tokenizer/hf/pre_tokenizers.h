// HF `tokenizers` pre-tokenizers: cut the normalized text into the words the model sees.
//
// Supported "type"s: ByteLevel, Split (String or Regex pattern, every behavior, invert), Metaspace
// (prepend_scheme always/first/never, split), Whitespace, WhitespaceSplit, BertPreTokenizer, Digits,
// Punctuation, CharDelimiterSplit, Sequence. Others are kUnsupported.
#pragma once

#include <memory>
#include <vector>

#include "core/status.h"
#include "tokenizer/hf/json_field.h"
#include "tokenizer/hf/pieces.h"

namespace autoglm::hf {

class ByteLevelPreTokenizer;

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by the pieces they split into.
  virtual void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const = 0;
  // The ByteLevel step this pre-tokenizer ends with, if any: the BPE model can then take raw bytes and that
  // step skips its byte -> character mapping (same ids, less work).
  virtual ByteLevelPreTokenizer* trailing_byte_level() { return nullptr; }
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);
  void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const override;
  ByteLevelPreTokenizer* trailing_byte_level() override { return this; }
  // The model consumes raw bytes: leave them unmapped.
  void set_emit_raw_bytes(bool raw) { emit_raw_bytes_ = raw; }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  bool emit_raw_bytes_ = false;
};

Expected<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const JsonField& spec, int depth = 0);

// Built directly by the vocab.json + merges.txt loader: Split(pattern, Isolated) or ByteLevel.
Expected<std::unique_ptr<PreTokenizer>> make_regex_split(const std::string& pattern, SplitBehavior behavior,
                                                         bool invert);
std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> steps);

}  // namespace autoglm::hf

// WordPiece as HF `tokenizers` runs it (models/wordpiece/mod.rs): greedy longest match from the left, every
// piece after the first looked up with the continuing-subword prefix ("##"); a word with a part that
// matches nothing, or longer than max_input_chars_per_word characters, becomes the unk token alone.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "tokenizer/hf/model.h"

namespace autoglm::hf {

class WordPieceModel final : public Model {
 public:
  static Expected<std::unique_ptr<WordPieceModel>> create(VocabMap vocab, std::string unk_token,
                                                          std::string continuing_subword_prefix,
                                                          size_t max_input_chars_per_word);

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int32_t id) const override { return reverse_.find(id); }
  int32_t vocab_size() const override { return reverse_.size(); }
  int32_t entry_count() const override { return static_cast<int32_t>(vocab_.size()); }
  std::string describe() const override { return "wordpiece"; }

 private:
  WordPieceModel() = default;

  VocabMap vocab_;
  ReverseVocab reverse_;
  std::string prefix_;
  size_t max_chars_ = 100;
  std::optional<int32_t> unk_id_;
  size_t max_piece_bytes_ = 0;  // longest vocabulary entry: longer substrings need no lookup
};

}  // namespace autoglm::hf

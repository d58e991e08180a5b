#include "tokenizer/hf/wordpiece_model.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace autoglm::hf {

Expected<std::unique_ptr<WordPieceModel>> WordPieceModel::create(VocabMap vocab, std::string unk_token,
                                                                 std::string continuing_subword_prefix,
                                                                 size_t max_input_chars_per_word) {
  std::unique_ptr<WordPieceModel> model(new WordPieceModel());
  for (const auto& [piece, id] : vocab) {
    if (id < 0 || id > kMaxTokenId) {
      return parse_error("vocabulary id " + std::to_string(id) + " of \"" + piece + "\" is out of range");
    }
    model->max_piece_bytes_ = std::max(model->max_piece_bytes_, piece.size());
  }
  if (!model->reverse_.build(vocab)) return parse_error("two vocabulary entries share an id");
  auto it = vocab.find(unk_token);
  if (it != vocab.end()) model->unk_id_ = it->second;
  model->vocab_ = std::move(vocab);
  model->prefix_ = std::move(continuing_subword_prefix);
  model->max_chars_ = max_input_chars_per_word;
  return model;
}

std::optional<int32_t> WordPieceModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void WordPieceModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  // HF fails the whole encode when the unk token is missing from the vocabulary; we drop the word instead.
  auto unk = [&]() {
    if (unk_id_) ids.push_back(*unk_id_);
  };
  if (utf8::count_code_points(word) > max_chars_) {
    unk();
    return;
  }
  const size_t first = ids.size();
  std::string candidate;
  size_t start = 0;
  while (start < word.size()) {
    const size_t prefix_bytes = start > 0 ? prefix_.size() : 0;
    // Candidates longer than the longest vocabulary entry cannot match: start below that length, at a
    // character boundary.
    size_t end = word.size();
    if (end - start + prefix_bytes > max_piece_bytes_) {
      end = start + (max_piece_bytes_ > prefix_bytes ? max_piece_bytes_ - prefix_bytes : 0);
      while (end > start && end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80)
        --end;
    }
    int32_t found = -1;
    while (end > start) {
      candidate.clear();
      if (start > 0) candidate += prefix_;
      candidate.append(word.substr(start, end - start));
      auto it = vocab_.find(candidate);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80)
        --end;
    }
    if (found < 0) {
      ids.resize(first);
      unk();
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

}  // namespace autoglm::hf

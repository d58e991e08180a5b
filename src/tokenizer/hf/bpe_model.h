// Byte-pair encoding as HF `tokenizers` runs it (models/bpe/model.rs and word.rs): a word starts as one
// symbol per character (prefixed/suffixed as configured; unknown characters become byte-fallback tokens
// <0xXX> or the unk token, fused if fuse_unk), then the adjacent pair with the lowest merge rank is merged
// repeatedly, leftmost first among equal ranks, until no pair has a merge.
//
// Merging uses a rank hash map of id pairs; short words scan a cached rank per symbol, long words use a
// priority queue over a linked list (both give HF's order exactly), and results for words shorter than 256
// bytes are cached (10,000 words, as HF) behind a lock that is only ever tried, never waited on.
//
// Byte-unit mode: when a ByteLevel pre-tokenizer ends the pipeline, words arrive as the raw bytes instead of
// their byte-level characters; every byte is then one starting symbol (the character it stands for), which
// gives the same ids without mapping the text.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/hf/model.h"

namespace autoglm::hf {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

// Splits a legacy "a b" merge line. A piece may itself contain spaces (a vocabulary whose NBSP became a
// space, as llama2/tokenizer.json here): then the split whose two parts and their concatenation are all in
// the vocabulary is taken, and the line is rejected if there is not exactly one.
std::optional<std::pair<std::string, std::string>> split_merge_line(std::string_view line,
                                                                    const VocabMap& vocab);

class BpeModel final : public Model {
 public:
  // Errors (kParseError without a file name: the caller adds it) for merges whose parts or result are not in
  // the vocabulary, ids out of range, or an unk token missing from the vocabulary.
  static Expected<std::unique_ptr<BpeModel>> create(
      VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);
  ~BpeModel() override;

  // Switches to byte-unit mode; false (and no change) when the options do not allow it (a subword prefix or
  // an end-of-word suffix, which are defined on characters).
  bool enable_byte_units();

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int32_t id) const override { return reverse_.find(id); }
  int32_t vocab_size() const override { return reverse_.size(); }
  int32_t entry_count() const override { return static_cast<int32_t>(vocab_.size()); }
  std::string describe() const override;

 private:
  struct Symbol;
  class MergeMap;
  struct Cache;

  BpeModel();
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void add_unit(std::string_view unit, std::string_view fallback_bytes, std::vector<Symbol>& symbols,
                std::optional<int32_t>& pending_unk) const;

  VocabMap vocab_;
  ReverseVocab reverse_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_fallback_ids_{};  // "<0xXX>" ids or -1
  std::array<int32_t, 128> ascii_ids_{};          // single ASCII character tokens or -1
  bool byte_units_ = false;
  std::array<int32_t, 256> byte_unit_ids_{};  // byte-unit mode: id of the character that stands for a byte
  VocabMap byte_vocab_;                       // byte-unit mode with ignore_merges: raw bytes -> id
  std::unique_ptr<MergeMap> merges_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace autoglm::hf

// The model stage of an HF pipeline: one pre-tokenized word -> token ids (BPE, WordPiece).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace autoglm::hf {

// Transparent hashing so that maps keyed by std::string can be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using VocabMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Ids must lie in [0, kMaxTokenId]: vocabularies are dense tables indexed by id.
inline constexpr int32_t kMaxTokenId = (1 << 24) - 1;

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one word (non-empty, valid UTF-8 or, in byte-unit mode, raw bytes).
  virtual void tokenize(std::string_view word, std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // The stored vocabulary string of an id; nullptr when the id has none.
  virtual const std::string* id_to_token(int32_t id) const = 0;
  // Largest id + 1.
  virtual int32_t vocab_size() const = 0;
  // Number of vocabulary entries (HF's get_vocab_size, from which added tokens get their ids).
  virtual int32_t entry_count() const = 0;
  virtual std::string describe() const = 0;
};

// Dense id -> piece table shared by the models.
class ReverseVocab {
 public:
  // Fails (returns false) on a duplicate id.
  bool build(const VocabMap& vocab);
  const std::string* find(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size() || !present_[id]) return nullptr;
    return &pieces_[id];
  }
  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }

 private:
  std::vector<std::string> pieces_;
  std::vector<bool> present_;
};

}  // namespace autoglm::hf

#include "tokenizer/hf/bpe_model.h"

#include <mutex>
#include <queue>

#include "tokenizer/hf/byte_level.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {
namespace {

constexpr size_t kCacheCapacity = 10'000;   // HF's DEFAULT_CACHE_CAPACITY
constexpr size_t kCacheMaxWordBytes = 256;  // HF caches words shorter than this (MAX_LENGTH)
constexpr size_t kLinearScanMaxSymbols = 48;
constexpr int32_t kNoRank = INT32_MAX;

const char* kHexDigits = "0123456789ABCDEF";

std::string byte_fallback_piece(uint8_t b) {
  std::string s = "<0x";
  s.push_back(kHexDigits[b >> 4]);
  s.push_back(kHexDigits[b & 15]);
  s.push_back('>');
  return s;
}

}  // namespace

bool ReverseVocab::build(const VocabMap& vocab) {
  int32_t max_id = -1;
  for (const auto& [piece, id] : vocab)
    max_id = std::max(max_id, id);
  pieces_.assign(static_cast<size_t>(max_id + 1), std::string());
  present_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [piece, id] : vocab) {
    if (present_[id]) return false;
    present_[id] = true;
    pieces_[id] = piece;
  }
  return true;
}

std::optional<std::pair<std::string, std::string>> split_merge_line(std::string_view line,
                                                                    const VocabMap& vocab) {
  const size_t first = line.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  if (line.find(' ', first + 1) == std::string_view::npos) {
    return std::make_pair(std::string(line.substr(0, first)), std::string(line.substr(first + 1)));
  }
  std::optional<std::pair<std::string, std::string>> found;
  for (size_t i = first; i < line.size(); i = line.find(' ', i + 1)) {
    if (i == std::string_view::npos) break;
    const std::string_view a = line.substr(0, i);
    const std::string_view b = line.substr(i + 1);
    if (a.empty() || b.empty()) continue;
    if (vocab.find(a) == vocab.end() || vocab.find(b) == vocab.end()) continue;
    std::string joined(a);
    joined.append(b);
    if (vocab.find(joined) == vocab.end()) continue;
    if (found) return std::nullopt;  // ambiguous
    found = std::make_pair(std::string(a), std::string(b));
  }
  return found;
}

struct BpeModel::Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

// Open addressing map (id_a, id_b) -> (rank, merged id).
class BpeModel::MergeMap {
 public:
  struct Value {
    int32_t rank;
    int32_t new_id;
  };

  explicit MergeMap(size_t n) {
    size_t cap = 16;
    while (cap < n * 2)
      cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.resize(cap);
    mask_ = cap - 1;
  }

  void insert_or_assign(int32_t a, int32_t b, Value v) {
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key)
      i = (i + 1) & mask_;
    keys_[i] = key;
    values_[i] = v;
  }

  const Value* find(int32_t a, int32_t b) const {
    const uint64_t key = make_key(a, b);
    size_t i = slot(key);
    while (true) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }

  std::vector<uint64_t> keys_;
  std::vector<Value> values_;
  size_t mask_ = 0;
};

struct BpeModel::Cache {
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

BpeModel::BpeModel() = default;
BpeModel::~BpeModel() = default;

Expected<std::unique_ptr<BpeModel>> BpeModel::create(
    VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  for (const auto& [piece, id] : vocab) {
    if (id < 0 || id > kMaxTokenId) {
      return parse_error("vocabulary id " + std::to_string(id) + " of \"" + piece + "\" is out of range");
    }
  }
  if (!model->reverse_.build(vocab)) return parse_error("two vocabulary entries share an id");

  model->merges_ = std::make_unique<MergeMap>(merges.size());
  const size_t prefix_len = options.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab.find(a);
    auto ib = vocab.find(b);
    if (ia == vocab.end() || ib == vocab.end()) {
      return parse_error("merge " + std::to_string(rank) + " \"" + a + " " + b + "\": token \"" +
                         (ia == vocab.end() ? a : b) + "\" is not in the vocabulary");
    }
    if (b.size() < prefix_len) {
      return parse_error("merge " + std::to_string(rank) + ": \"" + b +
                         "\" is shorter than the subword prefix");
    }
    const std::string merged = a + b.substr(prefix_len);
    auto im = vocab.find(merged);
    if (im == vocab.end()) {
      return parse_error("merge " + std::to_string(rank) + " \"" + a + " " + b + "\": result \"" + merged +
                         "\" is not in the vocabulary");
    }
    // Later duplicates win, as in HF's HashMap collect.
    model->merges_->insert_or_assign(ia->second, ib->second, {static_cast<int32_t>(rank), im->second});
  }

  if (options.unk_token) {
    auto it = vocab.find(*options.unk_token);
    if (it != vocab.end()) model->unk_id_ = it->second;
  }
  model->byte_fallback_ids_.fill(-1);
  if (options.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      auto it = vocab.find(byte_fallback_piece(static_cast<uint8_t>(b)));
      if (it != vocab.end()) model->byte_fallback_ids_[b] = it->second;
    }
  }
  model->ascii_ids_.fill(-1);
  if (options.continuing_subword_prefix.empty() && options.end_of_word_suffix.empty()) {
    for (int c = 0; c < 128; ++c) {
      auto it = vocab.find(std::string_view(reinterpret_cast<const char*>(&c), 1));
      if (it != vocab.end()) model->ascii_ids_[c] = it->second;
    }
  }
  model->byte_unit_ids_.fill(-1);
  model->options_ = std::move(options);
  model->vocab_ = std::move(vocab);
  model->cache_ = std::make_unique<Cache>();
  return model;
}

bool BpeModel::enable_byte_units() {
  if (!options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty()) return false;
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(byte_level::byte_to_utf8(static_cast<uint8_t>(b)));
    byte_unit_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  if (options_.ignore_merges) {
    for (const auto& [piece, id] : vocab_) {
      if (auto raw = byte_level::decode(piece)) byte_vocab_.emplace(std::move(*raw), id);
    }
  }
  byte_units_ = true;
  return true;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::string BpeModel::describe() const {
  std::string s = "bpe";
  if (byte_units_) s += " (byte-level)";
  if (options_.byte_fallback) s += " (byte fallback)";
  return s;
}

// One starting unit: `unit` is the vocabulary string to look up, `fallback_bytes` the bytes that byte
// fallback spells out when it is missing (the same string except in byte-unit mode).
void BpeModel::add_unit(std::string_view unit, std::string_view fallback_bytes, std::vector<Symbol>& symbols,
                        std::optional<int32_t>& pending_unk) const {
  auto push = [&symbols](int32_t id) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1, true});
  };
  int32_t id = -1;
  if (byte_units_) {
    id = byte_unit_ids_[static_cast<uint8_t>(unit[0])];
  } else if (unit.size() == 1 && static_cast<unsigned char>(unit[0]) < 128 && ascii_ids_[unit[0]] >= 0) {
    id = ascii_ids_[unit[0]];
  } else {
    auto it = vocab_.find(unit);
    if (it != vocab_.end()) id = it->second;
  }
  if (id >= 0) {
    if (pending_unk) {
      push(*pending_unk);
      pending_unk.reset();
    }
    push(id);
    return;
  }
  if (options_.byte_fallback) {
    bool all = true;
    for (char ch : fallback_bytes)
      all = all && byte_fallback_ids_[static_cast<uint8_t>(ch)] >= 0;
    if (all) {
      // As HF: a pending unk is not flushed before the byte tokens.
      for (char ch : fallback_bytes)
        push(byte_fallback_ids_[static_cast<uint8_t>(ch)]);
      return;
    }
  }
  if (!unk_id_) return;  // no unk token: the character is dropped
  if (pending_unk && !options_.fuse_unk) push(*pending_unk);
  pending_unk = *unk_id_;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  std::optional<int32_t> pending_unk;
  if (byte_units_) {
    for (size_t i = 0; i < word.size(); ++i) {
      add_unit(word.substr(i, 1), byte_level::byte_to_utf8(static_cast<uint8_t>(word[i])), symbols,
               pending_unk);
    }
  } else {
    const bool plain = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
    std::string decorated;
    size_t pos = 0;
    while (pos < word.size()) {
      const size_t len = utf8::decode(word, pos).length;
      std::string_view unit = word.substr(pos, len);
      if (!plain) {
        decorated.clear();
        if (pos > 0) decorated += options_.continuing_subword_prefix;
        decorated.append(unit);
        if (pos + len == word.size()) decorated += options_.end_of_word_suffix;
        unit = decorated;
      }
      add_unit(unit, unit, symbols, pending_unk);
      pos += len;
    }
  }
  if (pending_unk) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({*pending_unk, n - 1, n + 1, true});
  }
  if (!symbols.empty()) symbols.back().next = -1;
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& ids) const {
  thread_local std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  const auto n = static_cast<int32_t>(symbols.size());
  if (n == 0) return;
  auto merge_into = [&](int32_t pos, int32_t new_id) {
    Symbol& left = symbols[pos];
    const int32_t right = left.next;
    left.id = new_id;
    left.next = symbols[right].next;
    symbols[right].alive = false;
    if (left.next >= 0) symbols[left.next].prev = pos;
  };

  if (n <= static_cast<int32_t>(kLinearScanMaxSymbols)) {
    // Cached rank of each symbol's pair with its successor; each step merges the lowest rank, leftmost first.
    thread_local std::vector<MergeMap::Value> pair;
    pair.resize(n);
    auto refresh = [&](int32_t i) {
      const int32_t next = symbols[i].next;
      const MergeMap::Value* v = next >= 0 ? merges_->find(symbols[i].id, symbols[next].id) : nullptr;
      pair[i] = v ? *v : MergeMap::Value{kNoRank, -1};
    };
    for (int32_t i = 0; i < n; ++i)
      refresh(i);
    while (true) {
      int32_t best = -1;
      int32_t best_rank = kNoRank;
      for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        if (pair[i].rank < best_rank) {
          best_rank = pair[i].rank;
          best = i;
        }
      }
      if (best < 0) break;
      merge_into(best, pair[best].new_id);
      refresh(best);
      if (symbols[best].prev >= 0) refresh(symbols[best].prev);
    }
  } else {
    // HF's loop: a min-heap of (rank, position) with stale entries skipped.
    struct Entry {
      int32_t rank;
      int32_t pos;
      int32_t new_id;
      bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
    for (int32_t i = 0; i + 1 < n; ++i) {
      if (const auto* v = merges_->find(symbols[i].id, symbols[i + 1].id))
        queue.push({v->rank, i, v->new_id});
    }
    while (!queue.empty()) {
      const Entry top = queue.top();
      queue.pop();
      Symbol& cur = symbols[top.pos];
      if (!cur.alive || cur.next < 0) continue;
      const auto* v = merges_->find(cur.id, symbols[cur.next].id);
      if (v == nullptr || v->new_id != top.new_id) continue;  // expired entry
      merge_into(top.pos, top.new_id);
      if (cur.prev >= 0) {
        if (const auto* p = merges_->find(symbols[cur.prev].id, cur.id))
          queue.push({p->rank, cur.prev, p->new_id});
      }
      if (cur.next >= 0) {
        if (const auto* p = merges_->find(cur.id, symbols[cur.next].id))
          queue.push({p->rank, top.pos, p->new_id});
      }
    }
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next)
    ids.push_back(symbols[i].id);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const VocabMap& whole = byte_units_ ? byte_vocab_ : vocab_;
    auto it = whole.find(word);
    if (it != whole.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_->mutex, std::try_to_lock);
    if (lock.owns_lock()) {
      auto it = cache_->words.find(word);
      if (it != cache_->words.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
  }
  const size_t first = ids.size();
  merge_word(word, ids);
  if (cacheable) {
    std::unique_lock lock(cache_->mutex, std::try_to_lock);
    if (lock.owns_lock() && cache_->words.size() < kCacheCapacity) {
      cache_->words.emplace(std::string(word), std::vector<int32_t>(ids.begin() + first, ids.end()));
    }
  }
}

}  // namespace autoglm::hf

// Open-addressing hash maps for the hot lookups of the native tokenizers: vocabulary piece -> id (every BPE
// merge step looks up a concatenation) and (left id, right id) -> merge. std::unordered_map allocates a node
// per entry and hashes through std::hash<std::string>; these keep keys as views into one arena and probe
// linearly in a power-of-two table kept at most half full, which makes a lookup one or two cache misses.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace autoglm::native {

// 64-bit hash of a short byte string: 8 bytes at a time, multiply-xorshift mixing (wyhash-style constants).
inline uint64_t hash_bytes(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0xA0761D6478BD642Full ^ (s.size() * kMul);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

inline uint64_t hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

// Byte string -> non-negative int32 value. Keys are copied into an arena owned by the map. Insert keeps the
// first value of a duplicate key and reports the duplicate.
class PieceMap {
 public:
  PieceMap() = default;
  PieceMap(const PieceMap&) = delete;
  PieceMap& operator=(const PieceMap&) = delete;
  PieceMap(PieceMap&&) = default;
  PieceMap& operator=(PieceMap&&) = default;

  void reserve(size_t n);
  // False when the key was already present (the stored value is kept).
  bool insert(std::string_view key, int32_t value);
  // The value, or -1 when absent.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(key);
    size_t i = h & mask_;
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    if (key.size() <= kInlineBytes) {
      const uint64_t word = inline_word(key);
      while (true) {
        const Slot& s = slots_[i];
        if (s.value < 0) return -1;
        if (s.tag == tag && s.length == key.size() && s.word == word) return s.value;
        i = (i + 1) & mask_;
      }
    }
    while (true) {
      const Slot& s = slots_[i];
      if (s.value < 0) return -1;
      if (s.tag == tag && s.length == key.size() &&
          std::memcmp(arena_.data() + s.word, key.data(), key.size()) == 0)
        return s.value;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  // Keys of up to 8 bytes (most BPE lookups) are stored in the slot itself: no second cache miss, no memcmp.
  static constexpr size_t kInlineBytes = 8;
  static uint64_t inline_word(std::string_view key) {
    uint64_t w = 0;
    std::memcpy(&w, key.data(), key.size());
    return w;
  }
  struct Slot {
    uint32_t tag = 0;
    int32_t value = -1;  // -1: empty
    uint32_t length = 0;
    uint64_t word = 0;  // the key's bytes when length <= kInlineBytes, else its offset in arena_
  };
  std::string_view key_of(const Slot& s) const {
    return s.length <= kInlineBytes ? std::string_view(reinterpret_cast<const char*>(&s.word), s.length)
                                    : std::string_view(arena_.data() + s.word, s.length);
  }
  void grow();

  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// (left id, right id) -> (rank, merged id) for BPE by a merges list.
class MergeMap {
 public:
  struct Merge {
    int32_t rank = -1;  // -1: absent
    int32_t merged = -1;
  };
  void reserve(size_t n);
  // False when the pair was already present (the first rank is kept, as HF and llama.cpp do).
  bool insert(int32_t left, int32_t right, Merge merge);
  Merge find(int32_t left, int32_t right) const {
    if (slots_.empty()) return {};
    const uint64_t key = pack(left, right);
    size_t i = hash_u64(key) & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.merge.rank < 0) return {};
      if (s.key == key) return s.merge;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  struct Slot {
    uint64_t key = 0;
    Merge merge;
  };
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace autoglm::native

// Cache of pre-tokenized word -> token ids, shared by the threads that use one tokenizer. Natural text
// repeats a small set of words, so most BPE merge loops are skipped. Sharded by hash, each shard behind its
// own mutex; a full shard is cleared (cheaper than LRU bookkeeping and good enough for the Zipfian word
// distribution).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/native/piece_map.h"

namespace autoglm::native {

class WordCache {
 public:
  // Words longer than this are not cached (they are rare and would crowd out common ones).
  static constexpr size_t kMaxWordBytes = 64;

  // Appends the cached ids of word to out and returns true, or returns false.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const {
    if (word.size() > kMaxWordBytes) return false;
    const uint64_t h = hash_bytes(word);
    const Shard& shard = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(Key{h, word});
    if (it == shard.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }

  void store(std::string_view word, const int32_t* ids, size_t n) const {
    if (word.size() > kMaxWordBytes) return;
    const uint64_t h = hash_bytes(word);
    Shard& shard = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.map.find(Key{h, word}) != shard.map.end()) return;
    if (shard.map.size() >= kEntriesPerShard) {
      shard.map.clear();
      shard.words.clear();
    }
    shard.words.emplace_back(word);
    shard.map.emplace(Key{h, shard.words.back()}, std::vector<int32_t>(ids, ids + n));
  }

 private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kEntriesPerShard = 8192;
  struct Key {
    uint64_t hash;
    std::string_view word;
    bool operator==(const Key& o) const { return hash == o.hash && word == o.word; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.hash); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<Key, std::vector<int32_t>, KeyHash> map;
    std::deque<std::string> words;  // owns the bytes the keys view (a deque never moves its elements)
  };
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace autoglm::native

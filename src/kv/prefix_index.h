// The prefix index: which block holds the KV of each block key (block_hash.h).
//
// One block per key. When a second block ends up with a key that is already indexed (two sequences computed
// the same content independently, or a fully cached prompt recomputed its last block), the second block stays
// unindexed and returns to the empty blocks when released: it would only duplicate a block that serves the
// same hits. Because keys are chained, lookup of a sequence walks its keys from the first block and stops at
// the first miss; what follows a miss cannot be reused even if indexed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>

#include "kv/block_hash.h"
#include "kv/kv_types.h"

namespace autoglm {

class PrefixIndex {
 public:
  using Map = std::unordered_map<BlockHash, BlockId, BlockHashHasher>;

  std::optional<BlockId> find(const BlockHash& hash) const;
  // How many leading keys of `chain` (a sequence's full-block keys, first block first) are indexed.
  int32_t count_leading_hits(std::span<const BlockHash> chain) const;

  // False, and no change, if the key is already indexed.
  bool insert(const BlockHash& hash, BlockId id);
  // Precondition (asserted): the key is indexed.
  void erase(const BlockHash& hash);

  int32_t size() const { return static_cast<int32_t>(map_.size()); }
  // Every (key, block): for consistency checks and for tiers that enumerate what L1 holds.
  const Map& entries() const { return map_; }

 private:
  Map map_;
};

}  // namespace autoglm

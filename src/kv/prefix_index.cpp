#include "kv/prefix_index.h"

#include <cassert>

namespace autoglm {

std::optional<BlockId> PrefixIndex::find(const BlockHash& hash) const {
  auto it = map_.find(hash);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

int32_t PrefixIndex::count_leading_hits(std::span<const BlockHash> chain) const {
  int32_t n_hits = 0;
  for (const BlockHash& hash : chain) {
    if (!map_.contains(hash)) break;
    ++n_hits;
  }
  return n_hits;
}

bool PrefixIndex::insert(const BlockHash& hash, BlockId id) {
  return map_.emplace(hash, id).second;
}

void PrefixIndex::erase(const BlockHash& hash) {
  [[maybe_unused]] size_t n_erased = map_.erase(hash);
  assert(n_erased == 1);
}

}  // namespace autoglm

#include "kv/block_pool.h"

#include <algorithm>
#include <string>

namespace autoglm {

Expected<BlockPool> BlockPool::create(int32_t n_blocks, int32_t block_size) {
  if (n_blocks <= 0 || block_size <= 0) {
    return invalid_argument("kv: a block pool needs n_blocks > 0 and block_size > 0, got " +
                            std::to_string(n_blocks) + " and " + std::to_string(block_size));
  }
  return BlockPool(n_blocks, block_size);
}

BlockPool::BlockPool(int32_t n_blocks, int32_t block_size)
    : block_size_(block_size), blocks_(static_cast<size_t>(n_blocks)), empty_(n_blocks), cached_(n_blocks) {
  for (BlockId id = 0; id < n_blocks; ++id)
    empty_.push_back(id);
  stats_.n_blocks_total = n_blocks;
}

std::optional<BlockHash> BlockPool::hash_of(BlockId id) const {
  if (!block(id).indexed) return std::nullopt;
  return block(id).hash;
}

BlockId BlockPool::take_one() {
  if (!empty_.empty()) return empty_.pop_front();
  BlockId id = cached_.pop_front();
  Block& b = block(id);
  index_.erase(b.hash);
  b.indexed = false;
  ++stats_.n_evictions;
  return id;
}

Expected<std::vector<BlockId>> BlockPool::allocate(int32_t n) {
  if (n < 0) return invalid_argument("kv: cannot allocate " + std::to_string(n) + " blocks");
  if (n > n_blocks_available()) {
    record_allocation_failure();
    return resource_exhausted("kv: out of blocks: " + std::to_string(n) + " needed, " +
                              std::to_string(n_blocks_available()) + " of " +
                              std::to_string(n_blocks_total()) + " available");
  }
  std::vector<BlockId> ids;
  ids.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    BlockId id = take_one();
    block(id).ref_count = 1;
    ids.push_back(id);
  }
  return ids;
}

Status BlockPool::retain(std::span<const BlockId> ids) {
  for (BlockId id : ids) {
    if (!in_range(id))
      return invalid_argument("kv: retain of block " + std::to_string(id) + ": out of range");
    if (block(id).ref_count == 0 && !block(id).indexed) {
      return invalid_argument("kv: retain of block " + std::to_string(id) + ": it is empty");
    }
  }
  for (BlockId id : ids) {
    Block& b = block(id);
    if (b.ref_count == 0) cached_.remove(id);
    ++b.ref_count;
  }
  return Status::ok();
}

Status BlockPool::release(std::span<const BlockId> ids) {
  // Decrement first, undo on error: this handles an id that occurs several times without a side table.
  for (size_t i = 0; i < ids.size(); ++i) {
    BlockId id = ids[i];
    if (!in_range(id) || block(id).ref_count == 0) {
      for (size_t j = 0; j < i; ++j)
        ++block(ids[j]).ref_count;
      return invalid_argument("kv: release of block " + std::to_string(id) +
                              (in_range(id) ? ": it has no reference left" : ": out of range"));
    }
    --block(id).ref_count;
  }
  released_scratch_.clear();
  for (BlockId id : ids) {
    Block& b = block(id);
    if (b.ref_count != 0 || empty_.contains(id) || cached_.contains(id)) continue;
    if (b.indexed) {
      released_scratch_.push_back(id);
    } else {
      empty_.push_back(id);
    }
  }
  // One release is one instant: break the recency tie deepest first. A sequence releases its table from the
  // back, which is already in order.
  auto deeper = [this](BlockId a, BlockId b) { return block(a).depth > block(b).depth; };
  if (!std::is_sorted(released_scratch_.begin(), released_scratch_.end(), deeper)) {
    std::stable_sort(released_scratch_.begin(), released_scratch_.end(), deeper);
  }
  for (BlockId id : released_scratch_) {
    if (!cached_.contains(id)) cached_.push_back(id);  // an id released several times is queued once
  }
  return Status::ok();
}

Expected<bool> BlockPool::register_block(BlockId id, const BlockHash& hash, int32_t depth) {
  if (!in_range(id) || block(id).ref_count == 0) {
    return invalid_argument("kv: register of block " + std::to_string(id) + ": not a used block");
  }
  Block& b = block(id);
  if (b.indexed) {
    return invalid_argument("kv: register of block " + std::to_string(id) + ": already indexed as " +
                            b.hash.to_hex());
  }
  if (!index_.insert(hash, id)) return false;
  b.indexed = true;
  b.hash = hash;
  b.depth = depth;
  return true;
}

std::vector<BlockId> BlockPool::eviction_order() const {
  std::vector<BlockId> order;
  order.reserve(static_cast<size_t>(cached_.size()));
  for (BlockId id = cached_.front(); id != kNoBlock; id = cached_.next(id))
    order.push_back(id);
  return order;
}

void BlockPool::record_query(int32_t n_query_tokens, int32_t n_hit_blocks) {
  ++stats_.n_queries;
  stats_.n_query_tokens += n_query_tokens;
  stats_.n_hit_blocks += n_hit_blocks;
  stats_.n_hit_tokens += int64_t{n_hit_blocks} * block_size_;
}

KvStats BlockPool::stats() const {
  KvStats stats = stats_;
  stats.n_blocks_used = n_blocks_used();
  stats.n_blocks_cached = n_blocks_cached();
  stats.n_blocks_empty = n_blocks_empty();
  return stats;
}

}  // namespace autoglm

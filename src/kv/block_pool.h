// The block pool: reference counts of a fixed set of KV blocks, which of the unreferenced ones still hold
// reusable (indexed) content, and the order in which those are evicted.
//
// Every block is in exactly one state:
//   used    ref > 0; indexed if full and registered, never in a queue
//   cached  ref 0, indexed: in the eviction queue, reusable by a prefix hit until evicted
//   empty   ref 0, not indexed: in the empty queue
// so n_blocks_used + n_blocks_cached + n_blocks_empty == n_blocks_total at all times.
//
// Eviction order. Allocation takes empty blocks first and evicts cached ones only when none is left, so
// reusable content survives as long as possible. Cached blocks are evicted least recently released first
// (LRU). Blocks released by the same call tie in recency and are queued deepest first (by their position in
// their sequence), so a prefix loses its tail before its head and never keeps a child whose parent is gone:
// lookups walk chains from the root, and a child behind a hole could never be hit again.
//
// Metadata only: no memory is touched. Not thread-safe; owned by the scheduler's thread (through KvManager).
// Every operation is O(1) per block (release: O(k) for k blocks already in depth order, O(k log k)
// otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/status.h"
#include "kv/block_hash.h"
#include "kv/free_block_queue.h"
#include "kv/kv_stats.h"
#include "kv/kv_types.h"
#include "kv/prefix_index.h"

namespace autoglm {

class BlockPool {
 public:
  // n_blocks > 0 blocks of block_size > 0 token slots, all empty.
  static Expected<BlockPool> create(int32_t n_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks_total() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t n_blocks_used() const { return n_blocks_total() - n_blocks_available(); }
  int32_t n_blocks_cached() const { return cached_.size(); }
  int32_t n_blocks_empty() const { return empty_.size(); }
  // What an allocation can take: empty plus cached blocks.
  int32_t n_blocks_available() const { return empty_.size() + cached_.size(); }

  // Preconditions for the per-block queries: 0 <= id < n_blocks_total.
  int32_t ref_count(BlockId id) const { return block(id).ref_count; }
  // The block's key if it is indexed.
  std::optional<BlockHash> hash_of(BlockId id) const;
  // Position of an indexed block in the sequence that registered it (0 = first block).
  int32_t depth_of(BlockId id) const { return block(id).depth; }

  // n fresh blocks with ref 1, empty ones first (oldest released first), then evicted cached ones (front of
  // the eviction queue first; their keys leave the index). All or nothing: kResourceExhausted, and no
  // change but the failure counter, if fewer than n are available.
  Expected<std::vector<BlockId>> allocate(int32_t n);
  // Adds one reference to each block (a prefix hit, a fork). A cached block leaves the eviction queue.
  // kInvalidArgument, and no change, if an id is out of range or empty (unreferenced without content).
  Status retain(std::span<const BlockId> ids);
  // Drops one reference per occurrence. Blocks reaching 0 are queued: indexed ones at the back of the
  // eviction queue, deepest first; the others at the back of the empty queue, in the given order.
  // kInvalidArgument, and no change, if an id is out of range or would drop below 0.
  Status release(std::span<const BlockId> ids);

  // Indexes a used block's full content under `hash`; depth is its position in its sequence. Returns false,
  // and indexes nothing, if another block already holds that key (the block then stays a plain used block).
  // kInvalidArgument if the block is unreferenced or already indexed.
  Expected<bool> register_block(BlockId id, const BlockHash& hash, int32_t depth);

  const PrefixIndex& index() const { return index_; }
  // The cached blocks, next to be evicted first.
  std::vector<BlockId> eviction_order() const;

  // Prefix-cache accounting, recorded by the KvManager (see kv_stats.h).
  void record_query(int32_t n_query_tokens, int32_t n_hit_blocks);
  void record_allocation_failure() { ++stats_.n_allocation_failures; }
  KvStats stats() const;

 private:
  struct Block {
    int32_t ref_count = 0;
    bool indexed = false;
    int32_t depth = 0;  // meaningful while indexed
    BlockHash hash;     // meaningful while indexed
  };

  BlockPool(int32_t n_blocks, int32_t block_size);
  const Block& block(BlockId id) const { return blocks_[static_cast<size_t>(id)]; }
  Block& block(BlockId id) { return blocks_[static_cast<size_t>(id)]; }
  bool in_range(BlockId id) const { return id >= 0 && id < n_blocks_total(); }
  BlockId take_one();

  int32_t block_size_;
  std::vector<Block> blocks_;
  FreeBlockQueue empty_;
  FreeBlockQueue cached_;  // eviction order: front is evicted first
  PrefixIndex index_;
  KvStats stats_;
  std::vector<BlockId> released_scratch_;  // reused by release(): no allocation in the steady state
};

}  // namespace autoglm

// An intrusive FIFO of block ids with O(1) push_back, pop_front and removal from the middle.
//
// The block pool keeps its ref-0 blocks in two of these: the empty blocks, and the cached ones (content
// still indexed by hash) in eviction order. A prefix hit takes a cached block out of the middle of the queue,
// which is why this is a doubly-linked list over preallocated prev/next arrays rather than a std::deque:
// no allocation after construction and no search (the design of vLLM v1's FreeKVCacheBlockQueue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kv/kv_types.h"

namespace autoglm {

class FreeBlockQueue {
 public:
  // Room for ids 0..capacity-1; starts empty.
  explicit FreeBlockQueue(int32_t capacity);

  int32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool contains(BlockId id) const { return in_queue_[static_cast<size_t>(id)] != 0; }
  // The oldest id; kNoBlock when empty.
  BlockId front() const { return head_; }
  // The id after `id` towards the back, kNoBlock at the back: lets tests and metrics walk the order.
  BlockId next(BlockId id) const { return next_[static_cast<size_t>(id)]; }

  // Preconditions (asserted): id in range; not in the queue for push_back, in it for remove.
  void push_back(BlockId id);
  BlockId pop_front();  // precondition: not empty
  void remove(BlockId id);

 private:
  std::vector<BlockId> prev_;
  std::vector<BlockId> next_;
  std::vector<uint8_t> in_queue_;
  BlockId head_ = kNoBlock;
  BlockId tail_ = kNoBlock;
  int32_t size_ = 0;
};

}  // namespace autoglm

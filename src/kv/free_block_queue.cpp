#include "kv/free_block_queue.h"

#include <cassert>
#include <cstddef>

namespace autoglm {

FreeBlockQueue::FreeBlockQueue(int32_t capacity)
    : prev_(static_cast<size_t>(capacity), kNoBlock),
      next_(static_cast<size_t>(capacity), kNoBlock),
      in_queue_(static_cast<size_t>(capacity), 0) {}

void FreeBlockQueue::push_back(BlockId id) {
  assert(id >= 0 && static_cast<size_t>(id) < in_queue_.size() && !contains(id));
  const auto i = static_cast<size_t>(id);
  prev_[i] = tail_;
  next_[i] = kNoBlock;
  if (tail_ == kNoBlock) {
    head_ = id;
  } else {
    next_[static_cast<size_t>(tail_)] = id;
  }
  tail_ = id;
  in_queue_[i] = 1;
  ++size_;
}

BlockId FreeBlockQueue::pop_front() {
  assert(!empty());
  BlockId id = head_;
  remove(id);
  return id;
}

void FreeBlockQueue::remove(BlockId id) {
  assert(id >= 0 && static_cast<size_t>(id) < in_queue_.size() && contains(id));
  const auto i = static_cast<size_t>(id);
  if (prev_[i] == kNoBlock) {
    head_ = next_[i];
  } else {
    next_[static_cast<size_t>(prev_[i])] = next_[i];
  }
  if (next_[i] == kNoBlock) {
    tail_ = prev_[i];
  } else {
    prev_[static_cast<size_t>(next_[i])] = prev_[i];
  }
  prev_[i] = kNoBlock;
  next_[i] = kNoBlock;
  in_queue_[i] = 0;
  --size_;
}

}  // namespace autoglm

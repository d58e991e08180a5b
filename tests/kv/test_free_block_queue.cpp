// The intrusive queue: FIFO order, O(1) removal from the head, middle and tail, membership.
#include "kv/free_block_queue.h"

#include <gtest/gtest.h>

#include <vector>

namespace autoglm {
namespace {

std::vector<BlockId> contents(const FreeBlockQueue& queue) {
  std::vector<BlockId> ids;
  for (BlockId id = queue.front(); id != kNoBlock; id = queue.next(id))
    ids.push_back(id);
  return ids;
}

TEST(FreeBlockQueue, IsFifo) {
  FreeBlockQueue queue(8);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.front(), kNoBlock);
  for (BlockId id : {5, 2, 7})
    queue.push_back(id);
  EXPECT_EQ(queue.size(), 3);
  EXPECT_EQ(contents(queue), (std::vector<BlockId>{5, 2, 7}));
  EXPECT_EQ(queue.pop_front(), 5);
  EXPECT_EQ(queue.pop_front(), 2);
  queue.push_back(5);
  EXPECT_EQ(contents(queue), (std::vector<BlockId>{7, 5}));
}

TEST(FreeBlockQueue, RemovesFromAnywhere) {
  FreeBlockQueue queue(8);
  for (BlockId id = 0; id < 6; ++id)
    queue.push_back(id);
  queue.remove(3);  // middle
  queue.remove(0);  // head
  queue.remove(5);  // tail
  EXPECT_EQ(contents(queue), (std::vector<BlockId>{1, 2, 4}));
  EXPECT_FALSE(queue.contains(3));
  EXPECT_TRUE(queue.contains(4));
  queue.push_back(0);
  EXPECT_EQ(contents(queue), (std::vector<BlockId>{1, 2, 4, 0}));
  for (BlockId id : {1, 2, 4, 0})
    queue.remove(id);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.front(), kNoBlock);
  queue.push_back(6);
  EXPECT_EQ(contents(queue), (std::vector<BlockId>{6}));
}

}  // namespace
}  // namespace autoglm

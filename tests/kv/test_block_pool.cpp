// BlockPool: allocation order (empty blocks before cached ones), reference counting, the eviction order
// (least recently released first, ties deepest first), eviction leaving the index, all-or-nothing failures
// and the statistics.
#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace autoglm {
namespace {

using Ids = std::vector<BlockId>;

BlockPool make_pool(int32_t n_blocks, int32_t block_size = 4) {
  Expected<BlockPool> pool = BlockPool::create(n_blocks, block_size);
  EXPECT_TRUE(pool.has_value()) << pool.status().to_string();
  return std::move(pool).value();
}

// A distinct key per label.
BlockHash key(int label) {
  return hash_block(root_hash({}), std::vector<TokenId>{label});
}

// Allocates, keys and releases blocks so they end up cached; returns them.
Ids make_cached(BlockPool& pool, int32_t n, int first_label) {
  Ids ids = pool.allocate(n).value();
  for (int32_t i = 0; i < n; ++i)
    EXPECT_TRUE(pool.register_block(ids[i], key(first_label + i), i).value());
  EXPECT_TRUE(pool.release(ids).is_ok());
  return ids;
}

TEST(BlockPool, RejectsEmptyGeometry) {
  EXPECT_EQ(BlockPool::create(0, 16).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BlockPool::create(8, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockPool, AllocatesInIdOrderAndCountsReferences) {
  BlockPool pool = make_pool(4);
  EXPECT_EQ(pool.n_blocks_empty(), 4);
  Ids ids = pool.allocate(3).value();
  EXPECT_EQ(ids, (Ids{0, 1, 2}));
  EXPECT_EQ(pool.n_blocks_used(), 3);
  EXPECT_EQ(pool.n_blocks_available(), 1);
  EXPECT_DOUBLE_EQ(pool.stats().usage(), 0.75);
  ASSERT_TRUE(pool.retain(Ids{1}).is_ok());
  EXPECT_EQ(pool.ref_count(1), 2);
  ASSERT_TRUE(pool.release(Ids{1}).is_ok());
  EXPECT_EQ(pool.ref_count(1), 1);
  EXPECT_EQ(pool.n_blocks_used(), 3);
  // Unkeyed blocks return to the back of the empty queue, in the order given.
  ASSERT_TRUE(pool.release(Ids{2, 0, 1}).is_ok());
  EXPECT_EQ(pool.n_blocks_used(), 0);
  EXPECT_EQ(pool.allocate(4).value(), (Ids{3, 2, 0, 1}));
}

TEST(BlockPool, ExhaustionIsAllOrNothing) {
  BlockPool pool = make_pool(4);
  Ids held = pool.allocate(3).value();
  Expected<Ids> more = pool.allocate(2);
  ASSERT_FALSE(more.has_value());
  EXPECT_EQ(more.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(more.status().message().find("2 needed, 1 of 4 available"), std::string::npos)
      << more.status().message();
  EXPECT_EQ(pool.n_blocks_available(), 1);
  EXPECT_EQ(pool.stats().n_allocation_failures, 1);
  EXPECT_EQ(pool.allocate(1).value(), (Ids{3}));
}

TEST(BlockPool, KeyedBlocksStayCachedAndEmptyOnesAreTakenFirst) {
  BlockPool pool = make_pool(4);
  Ids cached = make_cached(pool, 2, 100);  // blocks 0, 1
  EXPECT_EQ(pool.n_blocks_cached(), 2);
  EXPECT_EQ(pool.n_blocks_empty(), 2);
  EXPECT_EQ(pool.index().size(), 2);
  // The two empty blocks go first; the cached content survives.
  EXPECT_EQ(pool.allocate(2).value(), (Ids{2, 3}));
  EXPECT_EQ(pool.stats().n_evictions, 0);
  EXPECT_EQ(pool.index().find(key(100)), std::optional<BlockId>(0));
}

TEST(BlockPool, EvictsLeastRecentlyReleasedFirstAndDropsItsKey) {
  BlockPool pool = make_pool(3);
  Ids a = pool.allocate(1).value();
  Ids b = pool.allocate(1).value();
  Ids c = pool.allocate(1).value();
  ASSERT_TRUE(pool.register_block(a[0], key(1), 0).value());
  ASSERT_TRUE(pool.register_block(b[0], key(2), 0).value());
  ASSERT_TRUE(pool.register_block(c[0], key(3), 0).value());
  ASSERT_TRUE(pool.release(b).is_ok());
  ASSERT_TRUE(pool.release(c).is_ok());
  ASSERT_TRUE(pool.release(a).is_ok());
  EXPECT_EQ(pool.eviction_order(), (Ids{b[0], c[0], a[0]}));

  EXPECT_EQ(pool.allocate(1).value(), b);
  EXPECT_EQ(pool.stats().n_evictions, 1);
  EXPECT_FALSE(pool.index().find(key(2)).has_value());
  EXPECT_FALSE(pool.hash_of(b[0]).has_value());
  EXPECT_EQ(pool.index().find(key(3)), std::optional<BlockId>(c[0]));
  EXPECT_EQ(pool.index().size(), 2);
}

TEST(BlockPool, ReleasedTogetherEvictsDeepestFirst) {
  BlockPool pool = make_pool(6);
  Ids chain = pool.allocate(3).value();  // depths 0, 1, 2
  Ids other = pool.allocate(2).value();  // depths 0, 1
  for (int32_t d = 0; d < 3; ++d)
    ASSERT_TRUE(pool.register_block(chain[d], key(10 + d), d).value());
  for (int32_t d = 0; d < 2; ++d)
    ASSERT_TRUE(pool.register_block(other[d], key(20 + d), d).value());
  // Root first on purpose: the pool orders the tie itself.
  ASSERT_TRUE(pool.release(chain).is_ok());
  ASSERT_TRUE(pool.release(Ids{other[1], other[0]}).is_ok());
  EXPECT_EQ(pool.eviction_order(), (Ids{chain[2], chain[1], chain[0], other[1], other[0]}));
  // One empty block, then evictions in that order.
  EXPECT_EQ(pool.allocate(4).value(), (Ids{5, chain[2], chain[1], chain[0]}));
  EXPECT_EQ(pool.stats().n_evictions, 3);
}

TEST(BlockPool, RetainTakesACachedBlockOutOfTheEvictionQueue) {
  BlockPool pool = make_pool(3);
  Ids cached = make_cached(pool, 3, 50);  // eviction order 2, 1, 0
  ASSERT_TRUE(pool.retain(Ids{cached[1]}).is_ok());
  EXPECT_EQ(pool.eviction_order(), (Ids{cached[2], cached[0]}));
  EXPECT_EQ(pool.n_blocks_used(), 1);
  EXPECT_EQ(pool.n_blocks_cached(), 2);
  // Released again, it is the most recent.
  ASSERT_TRUE(pool.release(Ids{cached[1]}).is_ok());
  EXPECT_EQ(pool.eviction_order(), (Ids{cached[2], cached[0], cached[1]}));
}

TEST(BlockPool, InvalidReferenceChangesAreRefusedWithoutEffect) {
  BlockPool pool = make_pool(4);
  Ids ids = pool.allocate(2).value();
  EXPECT_EQ(pool.retain(Ids{3}).code(), StatusCode::kInvalidArgument);  // empty block
  EXPECT_EQ(pool.retain(Ids{ids[0], 9}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.ref_count(ids[0]), 1);
  // The second occurrence would drop below zero: the first is undone.
  EXPECT_EQ(pool.release(Ids{ids[0], ids[1], ids[0]}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.ref_count(ids[0]), 1);
  EXPECT_EQ(pool.ref_count(ids[1]), 1);
  EXPECT_EQ(pool.release(Ids{-1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.n_blocks_used(), 2);
  // Repeated ids are fine while references remain, and queue the block once.
  ASSERT_TRUE(pool.retain(Ids{ids[0]}).is_ok());
  ASSERT_TRUE(pool.register_block(ids[0], key(1), 0).value());
  ASSERT_TRUE(pool.release(Ids{ids[0], ids[0]}).is_ok());
  EXPECT_EQ(pool.eviction_order(), (Ids{ids[0]}));
  EXPECT_EQ(pool.n_blocks_used() + pool.n_blocks_cached() + pool.n_blocks_empty(), 4);
}

TEST(BlockPool, RegisterIndexesOneBlockPerKey) {
  BlockPool pool = make_pool(4);
  Ids ids = pool.allocate(2).value();
  EXPECT_TRUE(pool.register_block(ids[0], key(1), 0).value());
  EXPECT_EQ(pool.hash_of(ids[0]), std::optional<BlockHash>(key(1)));
  EXPECT_EQ(pool.depth_of(ids[0]), 0);
  // Same content in a second block: not indexed, and released as a plain empty block.
  EXPECT_FALSE(pool.register_block(ids[1], key(1), 0).value());
  EXPECT_FALSE(pool.hash_of(ids[1]).has_value());
  EXPECT_EQ(pool.register_block(ids[0], key(2), 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.register_block(3, key(3), 0).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(pool.release(ids).is_ok());
  EXPECT_EQ(pool.n_blocks_cached(), 1);
  EXPECT_EQ(pool.n_blocks_empty(), 3);
}

TEST(BlockPool, StatisticsCount) {
  BlockPool pool = make_pool(2, 16);
  pool.record_query(40, 2);
  pool.record_query(24, 0);
  make_cached(pool, 2, 0);
  ASSERT_TRUE(pool.allocate(2).has_value());  // evicts both
  EXPECT_FALSE(pool.allocate(1).has_value());
  KvStats stats = pool.stats();
  EXPECT_EQ(stats.n_queries, 2);
  EXPECT_EQ(stats.n_query_tokens, 64);
  EXPECT_EQ(stats.n_hit_blocks, 2);
  EXPECT_EQ(stats.n_hit_tokens, 32);
  EXPECT_DOUBLE_EQ(stats.hit_rate(), 0.5);
  EXPECT_EQ(stats.n_evictions, 2);
  EXPECT_EQ(stats.n_allocation_failures, 1);
  EXPECT_EQ(stats.n_blocks_total, 2);
  EXPECT_EQ(stats.n_blocks_used, 2);
  EXPECT_DOUBLE_EQ(stats.usage(), 1.0);
}

}  // namespace
}  // namespace autoglm

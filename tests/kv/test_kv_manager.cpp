// KvManager with exact expectations on small pools (block_size 4): prefix hit lengths, tenant separation,
// partial blocks never shared, copy-on-write emitted exactly when a shared partial block would be written,
// eviction through the manager, all-or-nothing failures, admission queries and statistics.
#include "kv/kv_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace autoglm {
namespace {

using Ids = std::vector<BlockId>;
using Tokens = std::vector<TokenId>;
using Copies = std::vector<BlockCopy>;

constexpr int32_t kBlockSize = 4;
const HashScope kScope = {"test-model", ""};

KvManager make_manager(int32_t n_blocks, bool prefix_caching = true) {
  Expected<KvManager> manager = KvManager::create({n_blocks, kBlockSize, prefix_caching});
  EXPECT_TRUE(manager.has_value()) << manager.status().to_string();
  return std::move(manager).value();
}

// first, first+1, ..., first+n-1
Tokens iota_tokens(int32_t n, TokenId first = 0) {
  Tokens tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

Ids blocks_of(const KvManager& kv, SequenceId seq) {
  std::span<const BlockId> blocks = kv.table(seq)->blocks();
  return Ids(blocks.begin(), blocks.end());
}

TEST(KvManager, RejectsBadOptions) {
  EXPECT_EQ(KvManager::create({0, 16, true}).status().code(), StatusCode::kInvalidArgument);
}

TEST(KvManager, AllocatesAPromptAndIndexesItsFullBlocks) {
  KvManager kv = make_manager(8);
  EXPECT_EQ(kv.allocate_for(1, iota_tokens(10), kScope).value(), 0);
  EXPECT_EQ(blocks_of(kv, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(kv.table(1)->n_tokens(), 10);
  EXPECT_EQ(kv.table(1)->tail_tokens().size(), 2u);
  EXPECT_EQ(kv.pool().index().size(), 2);  // the partial third block is not keyed
  EXPECT_TRUE(kv.pool().hash_of(0).has_value());
  EXPECT_FALSE(kv.pool().hash_of(2).has_value());
  EXPECT_EQ(kv.pool().n_blocks_used(), 3);
}

TEST(KvManager, ReusesTheLongestCachedPrefix) {
  KvManager kv = make_manager(16);
  const Tokens prompt = iota_tokens(13);  // blocks: [0..3] [4..7] [8..11] [12]
  ASSERT_EQ(kv.allocate_for(1, prompt, kScope).value(), 0);
  // Same first two blocks, different third.
  Tokens diverging = prompt;
  diverging[9] = 99;
  EXPECT_EQ(kv.match_prefix(diverging, kScope).n_blocks, 2);
  EXPECT_EQ(kv.match_prefix(diverging, kScope).n_tokens, 8);
  EXPECT_EQ(kv.allocate_for(2, diverging, kScope).value(), 8);
  Ids first = blocks_of(kv, 1);
  Ids second = blocks_of(kv, 2);
  EXPECT_EQ(second[0], first[0]);
  EXPECT_EQ(second[1], first[1]);
  EXPECT_NE(second[2], first[2]);
  EXPECT_EQ(kv.pool().ref_count(first[0]), 2);
  EXPECT_EQ(kv.pool().ref_count(first[2]), 1);
  // Divergence in the first block: nothing to reuse.
  Tokens other = prompt;
  other[0] = 99;
  EXPECT_EQ(kv.match_prefix(other, kScope).n_blocks, 0);
}

TEST(KvManager, CacheSaltAndModelSeparateKeySpaces) {
  KvManager kv = make_manager(16);
  const Tokens prompt = iota_tokens(9);
  ASSERT_EQ(kv.allocate_for(1, prompt, {"test-model", "tenant-a"}).value(), 0);
  EXPECT_EQ(kv.allocate_for(2, prompt, {"test-model", "tenant-b"}).value(), 0);
  EXPECT_EQ(kv.allocate_for(3, prompt, {"test-model", ""}).value(), 0);
  EXPECT_EQ(kv.allocate_for(4, prompt, {"draft-model", "tenant-a"}).value(), 0);
  EXPECT_EQ(kv.allocate_for(5, prompt, {"test-model", "tenant-a"}).value(), 8);
  EXPECT_EQ(kv.pool().index().size(), 8);  // two full blocks per scope
}

TEST(KvManager, PartialBlocksAreNeverShared) {
  KvManager kv = make_manager(8);
  const Tokens prompt = iota_tokens(6);
  ASSERT_EQ(kv.allocate_for(1, prompt, kScope).value(), 0);
  EXPECT_EQ(kv.match_prefix(prompt, kScope).n_blocks, 1);
  EXPECT_EQ(kv.allocate_for(2, prompt, kScope).value(), 4);
  EXPECT_EQ(blocks_of(kv, 1)[0], blocks_of(kv, 2)[0]);
  EXPECT_NE(blocks_of(kv, 1)[1], blocks_of(kv, 2)[1]);
  // Still not shareable after the partial block is freed.
  ASSERT_TRUE(kv.free(1).is_ok());
  EXPECT_EQ(kv.allocate_for(3, prompt, kScope).value(), 4);
}

TEST(KvManager, AFullyCachedPromptRecomputesItsLastBlock) {
  KvManager kv = make_manager(8);
  const Tokens prompt = iota_tokens(8);
  ASSERT_EQ(kv.allocate_for(1, prompt, kScope).value(), 0);
  EXPECT_EQ(kv.match_prefix(prompt, kScope).n_blocks, 2);
  // The last token must run for its logits, so only the first block is reused.
  EXPECT_EQ(kv.n_blocks_to_allocate(prompt, kScope), 1);
  EXPECT_EQ(kv.allocate_for(2, prompt, kScope).value(), 4);
  EXPECT_EQ(blocks_of(kv, 2)[0], blocks_of(kv, 1)[0]);
  EXPECT_NE(blocks_of(kv, 2)[1], blocks_of(kv, 1)[1]);
  // The recomputed block duplicates an indexed key: it stays private.
  EXPECT_EQ(kv.pool().index().size(), 2);
  EXPECT_FALSE(kv.pool().hash_of(blocks_of(kv, 2)[1]).has_value());
  EXPECT_EQ(kv.table(2)->full_block_hashes()[1], kv.table(1)->full_block_hashes()[1]);
}

TEST(KvManager, AppendGrowsAndIndexesBlocksAsTheyFill) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(3), kScope).value(), 0);
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{3}, &copies).is_ok());
  EXPECT_EQ(kv.pool().index().size(), 1);
  EXPECT_EQ(kv.table(1)->blocks().size(), 1u);
  ASSERT_TRUE(kv.append(1, iota_tokens(5, 4), &copies).is_ok());  // tokens 4..8
  EXPECT_EQ(kv.table(1)->n_tokens(), 9);
  EXPECT_EQ(kv.table(1)->blocks().size(), 3u);
  EXPECT_EQ(kv.pool().index().size(), 2);
  EXPECT_TRUE(copies.empty());
  // Generated text is reusable like a prompt: keys depend on content, not on how it arrived.
  EXPECT_EQ(kv.match_prefix(iota_tokens(9), kScope).n_blocks, 2);
  EXPECT_EQ(kv.table(1)->full_block_hashes()[1],
            hash_block(hash_block(root_hash(kScope), iota_tokens(4)), iota_tokens(4, 4)));
  ASSERT_TRUE(kv.append(1, Tokens{}, &copies).is_ok());
  EXPECT_EQ(kv.table(1)->n_tokens(), 9);
}

TEST(KvManager, CountsTheUnfilledSlotsOfEachSequencesLastBlock) {
  KvManager kv = make_manager(16);
  EXPECT_EQ(kv.n_unfilled_slots(), 0);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(6), kScope).value(), 0);  // 2 blocks, 2 slots free
  EXPECT_EQ(kv.n_unfilled_slots(), 2);
  // Shares sequence 1's full first block (never its partial one): 1 + 2 new blocks for 9 tokens, 3 free.
  ASSERT_EQ(kv.allocate_for(2, Tokens{0, 1, 2, 3, 50, 51, 52, 53, 54}, kScope).value(), 4);
  EXPECT_EQ(kv.n_unfilled_slots(), 2 + 3);
  EXPECT_EQ(kv.pool().n_blocks_used(), 4);  // 16 slots, 5 of them unfilled
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{6, 7}, &copies).is_ok());  // fills sequence 1's last block
  EXPECT_EQ(kv.n_unfilled_slots(), 3);
  ASSERT_TRUE(kv.free(2).is_ok());
  EXPECT_EQ(kv.n_unfilled_slots(), 0);
}

TEST(KvManager, CopyOnWriteExactlyWhenASharedPartialBlockIsWritten) {
  KvManager kv = make_manager(16);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(6), kScope).value(), 0);  // blocks 0 (full), 1 (2 of 4)
  ASSERT_TRUE(kv.fork(1, 2).is_ok());
  ASSERT_TRUE(kv.fork(1, 3).is_ok());
  EXPECT_EQ(kv.pool().ref_count(1), 3);
  EXPECT_EQ(kv.pool().n_blocks_used(), 2);  // forks take no block
  EXPECT_EQ(kv.n_blocks_to_append(2, 1).value(), 1);

  Copies copies;
  ASSERT_TRUE(kv.append(2, Tokens{100}, &copies).is_ok());
  EXPECT_EQ(copies, (Copies{{1, 2}}));
  EXPECT_EQ(blocks_of(kv, 2), (Ids{0, 2}));
  EXPECT_EQ(kv.pool().ref_count(1), 2);
  ASSERT_TRUE(kv.append(3, Tokens{200}, &copies).is_ok());
  EXPECT_EQ(copies, (Copies{{1, 2}, {1, 3}}));
  // The parent is now the only owner of block 1: it writes in place.
  EXPECT_EQ(kv.n_blocks_to_append(1, 1).value(), 0);
  ASSERT_TRUE(kv.append(1, Tokens{300}, &copies).is_ok());
  EXPECT_EQ(copies.size(), 2u);
  EXPECT_EQ(blocks_of(kv, 1), (Ids{0, 1}));
  // The full first block stays shared by all three and is never copied.
  EXPECT_EQ(kv.pool().ref_count(0), 3);
  // A private block is never copied again.
  ASSERT_TRUE(kv.append(2, Tokens{101}, &copies).is_ok());
  EXPECT_EQ(copies.size(), 2u);
}

TEST(KvManager, NoCopyWhenTheSharedLastBlockIsFull) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(8), kScope).value(), 0);
  ASSERT_TRUE(kv.fork(1, 2).is_ok());
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{8}, &copies).is_ok());
  ASSERT_TRUE(kv.append(2, Tokens{9}, &copies).is_ok());
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(blocks_of(kv, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(blocks_of(kv, 2), (Ids{0, 1, 3}));
}

TEST(KvManager, FreeKeepsIndexedBlocksCachedForTheNextRequest) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(10), kScope).value(), 0);
  ASSERT_TRUE(kv.free(1).is_ok());
  EXPECT_FALSE(kv.contains(1));
  EXPECT_EQ(kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(kv.pool().n_blocks_cached(), 2);
  EXPECT_EQ(kv.pool().eviction_order(), (Ids{1, 0}));              // the tail of the prefix goes first
  EXPECT_EQ(kv.n_blocks_to_allocate(iota_tokens(10), kScope), 3);  // 2 cached + 1 fresh
  EXPECT_EQ(kv.allocate_for(2, iota_tokens(10), kScope).value(), 8);
  EXPECT_EQ(blocks_of(kv, 2), (Ids{0, 1, 3}));  // empty block 3 before block 2 (freed after 3 was queued)
}

TEST(KvManager, EvictedBlocksLeaveTheIndexDeepestFirst) {
  KvManager kv = make_manager(4);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(12), kScope).value(), 0);  // blocks 0, 1, 2 indexed
  ASSERT_TRUE(kv.free(1).is_ok());
  // 4 blocks of other content: the empty block 3, then evict 2 then 1 then 0.
  ASSERT_EQ(kv.allocate_for(2, iota_tokens(8, 1000), kScope).value(), 0);
  EXPECT_EQ(blocks_of(kv, 2), (Ids{3, 2}));
  EXPECT_EQ(kv.match_prefix(iota_tokens(12), kScope).n_blocks, 2);
  ASSERT_EQ(kv.allocate_for(3, iota_tokens(4, 2000), kScope).value(), 0);
  EXPECT_EQ(blocks_of(kv, 3), (Ids{1}));
  EXPECT_EQ(kv.match_prefix(iota_tokens(12), kScope).n_blocks, 1);
  EXPECT_EQ(kv.stats().n_evictions, 2);
  EXPECT_EQ(kv.pool().index().size(), 4);  // block 0 of seq 1 and the new full blocks 3, 2, 1
}

TEST(KvManager, FailuresLeaveEverythingUnchanged) {
  KvManager kv = make_manager(4);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(6), kScope).value(), 0);
  ASSERT_TRUE(kv.fork(1, 2).is_ok());
  ASSERT_EQ(kv.allocate_for(3, iota_tokens(5, 100), kScope).value(), 0);  // pool now full
  EXPECT_EQ(kv.n_blocks_available(), 0);
  const Ids before_1 = blocks_of(kv, 1);
  const KvStats stats_before = kv.stats();

  Expected<int32_t> denied = kv.allocate_for(4, iota_tokens(1, 500), kScope);
  EXPECT_EQ(denied.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(denied.status().message().find("sequence 4"), std::string::npos) << denied.status().message();
  EXPECT_FALSE(kv.contains(4));
  // Needs a copy-on-write block.
  Copies copies;
  EXPECT_FALSE(kv.can_append(1, 1));
  EXPECT_EQ(kv.append(1, Tokens{7}, &copies).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(blocks_of(kv, 1), before_1);
  EXPECT_EQ(kv.table(1)->n_tokens(), 6);
  EXPECT_EQ(kv.pool().ref_count(before_1[1]), 2);
  // Fills its last block in place: no block needed.
  EXPECT_TRUE(kv.can_append(3, 3));
  EXPECT_FALSE(kv.can_append(3, 4));

  EXPECT_EQ(kv.allocate_for(1, iota_tokens(2), kScope).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.append(9, Tokens{1}, &copies).code(), StatusCode::kNotFound);
  EXPECT_EQ(kv.append(1, Tokens{1}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.fork(9, 10).code(), StatusCode::kNotFound);
  EXPECT_EQ(kv.fork(1, 2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.free(9).code(), StatusCode::kNotFound);
  EXPECT_EQ(kv.n_blocks_to_append(9, 1).status().code(), StatusCode::kNotFound);

  const KvStats stats_after = kv.stats();
  EXPECT_EQ(stats_after.n_allocation_failures, stats_before.n_allocation_failures + 2);
  EXPECT_EQ(stats_after.n_queries, stats_before.n_queries);
  EXPECT_EQ(stats_after.n_blocks_used, stats_before.n_blocks_used);
  EXPECT_EQ(kv.n_sequences(), 3);
}

TEST(KvManager, AdmissionCountsCachedHitsAsConsumed) {
  KvManager kv = make_manager(3);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(8), kScope).value(), 0);
  ASSERT_TRUE(kv.free(1).is_ok());  // 2 cached + 1 empty
  const Tokens longer = iota_tokens(12);
  // Reuses both cached blocks (they stop being available) and needs one fresh: 3 of 3.
  EXPECT_EQ(kv.n_blocks_to_allocate(longer, kScope), 3);
  EXPECT_TRUE(kv.can_allocate(longer, kScope));
  EXPECT_FALSE(kv.can_allocate(iota_tokens(13), kScope));
  EXPECT_EQ(kv.allocate_for(2, longer, kScope).value(), 8);
  EXPECT_EQ(kv.n_blocks_available(), 0);
}

TEST(KvManager, MatchReusableMirrorsAllocateForAndTellsHeldFromCached) {
  KvManager kv = make_manager(16);
  const Tokens prompt = iota_tokens(13);  // 3 full blocks + 1 token
  ASSERT_EQ(kv.allocate_for(1, prompt, kScope).value(), 0);
  PrefixReuse reuse = kv.match_reusable(prompt, kScope);
  EXPECT_EQ(reuse.n_blocks, 3);
  EXPECT_EQ(reuse.n_blocks_held, 3);
  EXPECT_EQ(reuse.n_blocks_held_leading, 3);
  // The last token is never reused: a 12-token prompt reuses 2 blocks, as allocate_for would.
  EXPECT_EQ(kv.match_reusable(iota_tokens(12), kScope).n_blocks, 2);
  EXPECT_EQ(kv.match_reusable(iota_tokens(1), kScope).n_blocks, 0);
  EXPECT_EQ(kv.match_reusable(Tokens{}, kScope).n_blocks, 0);
  EXPECT_EQ(kv.match_reusable(prompt, HashScope{"test-model", "salt"}).n_blocks, 0);

  ASSERT_TRUE(kv.free(1).is_ok());  // 3 cached blocks
  reuse = kv.match_reusable(prompt, kScope);
  EXPECT_EQ(reuse.n_blocks, 3);
  EXPECT_EQ(reuse.n_blocks_held, 0);
  EXPECT_EQ(reuse.n_blocks_held_leading, 0);
  // Sequence 2 holds the first two blocks again; the third stays cached.
  ASSERT_EQ(kv.allocate_for(2, iota_tokens(9), kScope).value(), 8);
  reuse = kv.match_reusable(prompt, kScope);
  EXPECT_EQ(reuse.n_blocks, 3);
  EXPECT_EQ(reuse.n_blocks_held, 2);
  EXPECT_EQ(reuse.n_blocks_held_leading, 2);
  EXPECT_EQ(kv.allocate_for(3, prompt, kScope).value(), reuse.n_blocks * kBlockSize);
}

TEST(KvManager, MatchReusableFindsNothingWithPrefixCachingOff) {
  KvManager kv = make_manager(8, /*prefix_caching=*/false);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(9), kScope).value(), 0);
  EXPECT_EQ(kv.match_reusable(iota_tokens(9), kScope).n_blocks, 0);
}

TEST(KvManager, BlocksFreedByCountsOnlyBlocksNoOtherSequenceHolds) {
  KvManager kv = make_manager(16);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(13), kScope).value(), 0);      // 4 blocks
  ASSERT_EQ(kv.allocate_for(2, iota_tokens(9), kScope).value(), 8);       // shares 2, 1 of its own
  ASSERT_EQ(kv.allocate_for(3, iota_tokens(5, 100), kScope).value(), 0);  // 2 of its own
  const SequenceId one[] = {1};
  const SequenceId two[] = {2};
  const SequenceId one_two[] = {1, 2};
  const SequenceId all[] = {3, 1, 2};
  EXPECT_EQ(kv.n_blocks_freed_by(one).value(), 2);
  EXPECT_EQ(kv.n_blocks_freed_by(two).value(), 1);
  EXPECT_EQ(kv.n_blocks_freed_by(one_two).value(), 5);  // the shared two as well
  EXPECT_EQ(kv.n_blocks_freed_by(all).value(), 7);
  EXPECT_EQ(kv.n_blocks_freed_by({}).value(), 0);
  const SequenceId unknown[] = {1, 9};
  EXPECT_EQ(kv.n_blocks_freed_by(unknown).status().code(), StatusCode::kNotFound);
  // What the query says is what freeing does.
  const int32_t available = kv.n_blocks_available();
  ASSERT_TRUE(kv.free(1).is_ok());
  ASSERT_TRUE(kv.free(2).is_ok());
  EXPECT_EQ(kv.n_blocks_available(), available + 5);
}

TEST(KvManager, StatisticsCountSuccessfulLookups) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(10), kScope).value(), 0);
  ASSERT_EQ(kv.allocate_for(2, iota_tokens(10), kScope).value(), 8);
  ASSERT_EQ(kv.allocate_for(3, iota_tokens(6), kScope).value(), 4);
  EXPECT_EQ(kv.allocate_for(4, iota_tokens(40, 50), kScope).status().code(), StatusCode::kResourceExhausted);
  KvStats stats = kv.stats();
  EXPECT_EQ(stats.n_queries, 3);
  EXPECT_EQ(stats.n_query_tokens, 26);
  EXPECT_EQ(stats.n_hit_blocks, 3);
  EXPECT_EQ(stats.n_hit_tokens, 12);
  EXPECT_EQ(stats.n_allocation_failures, 1);
  EXPECT_EQ(stats.n_evictions, 0);
  EXPECT_EQ(stats.n_blocks_used, 5);  // 3 + 1 + 1
  EXPECT_DOUBLE_EQ(stats.usage(), 5.0 / 8.0);
}

TEST(KvManager, PrefixCachingOffSharesNothing) {
  KvManager kv = make_manager(8, /*prefix_caching=*/false);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(8), kScope).value(), 0);
  EXPECT_EQ(kv.allocate_for(2, iota_tokens(9), kScope).value(), 0);
  EXPECT_EQ(kv.pool().index().size(), 0);
  ASSERT_TRUE(kv.free(1).is_ok());
  EXPECT_EQ(kv.pool().n_blocks_cached(), 0);
  EXPECT_EQ(kv.match_prefix(iota_tokens(8), kScope).n_blocks, 0);
  EXPECT_EQ(kv.stats().n_queries, 0);
}

TEST(KvManager, EmptyPromptTakesNoBlock) {
  KvManager kv = make_manager(2);
  EXPECT_EQ(kv.allocate_for(1, Tokens{}, kScope).value(), 0);
  EXPECT_TRUE(kv.table(1)->blocks().empty());
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{5}, &copies).is_ok());
  EXPECT_EQ(blocks_of(kv, 1), (Ids{0}));
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// A token sampled by a step still on the device: the block it fills is keyed once its value is known, with
// the key it would have had, and no key covers it before.
TEST(KvManager, APendingTokenHoldsBackTheKeysOfItsBlockUntilResolved) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(3), kScope).value(), 0);
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{kPendingToken}, &copies).is_ok());  // fills block 0
  EXPECT_EQ(kv.table(1)->n_keyed_blocks(), 0);
  EXPECT_EQ(kv.pool().index().size(), 0);
  ASSERT_TRUE(kv.append(1, iota_tokens(4, 50), &copies).is_ok());  // fills block 1 behind it
  EXPECT_EQ(kv.table(1)->n_keyed_blocks(), 0);
  EXPECT_EQ(kv.pool().index().size(), 0);

  ASSERT_TRUE(kv.resolve(1, 3, 7).is_ok());
  EXPECT_EQ(kv.table(1)->n_keyed_blocks(), 2);
  EXPECT_EQ(kv.pool().index().size(), 2);
  // The same tokens appended with their values from the start give the same keys.
  Tokens known = iota_tokens(3);
  known.push_back(7);
  const Tokens rest = iota_tokens(4, 50);
  known.insert(known.end(), rest.begin(), rest.end());
  KvManager plain = make_manager(8);
  ASSERT_EQ(plain.allocate_for(1, known, kScope).value(), 0);
  const auto a = kv.table(1)->full_block_hashes();
  const auto b = plain.table(1)->full_block_hashes();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  // A later prompt with those tokens reuses the blocks.
  known.push_back(99);
  EXPECT_EQ(kv.match_prefix(known, kScope).n_blocks, 2);
}

TEST(KvManager, ResolveRefusesWhatIsNotAPendingToken) {
  KvManager kv = make_manager(8);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(2), kScope).value(), 0);
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{kPendingToken}, &copies).is_ok());
  EXPECT_EQ(kv.resolve(1, 1, 5).code(), StatusCode::kInvalidArgument);  // a known token
  EXPECT_EQ(kv.resolve(1, 3, 5).code(), StatusCode::kInvalidArgument);  // past the end
  EXPECT_EQ(kv.resolve(1, 2, -4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.resolve(9, 2, 5).code(), StatusCode::kNotFound);
  EXPECT_TRUE(kv.resolve(1, 2, 5).is_ok());
  EXPECT_EQ(kv.resolve(1, 2, 5).code(), StatusCode::kInvalidArgument);  // only once
  // A prompt never holds a pending token.
  EXPECT_EQ(kv.allocate_for(2, Tokens{1, kPendingToken}, kScope).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(kv.contains(2));
}

TEST(KvManager, ASequenceFreedBeforeItsTokenResolvesLeavesItsBlockUnkeyed) {
  KvManager kv = make_manager(4);
  ASSERT_EQ(kv.allocate_for(1, iota_tokens(3), kScope).value(), 0);
  Copies copies;
  ASSERT_TRUE(kv.append(1, Tokens{kPendingToken}, &copies).is_ok());
  ASSERT_TRUE(kv.free(1).is_ok());
  EXPECT_EQ(kv.pool().index().size(), 0);
  EXPECT_EQ(kv.pool().n_blocks_cached(), 0);
  EXPECT_EQ(kv.pool().n_blocks_available(), 4);
}

}  // namespace
}  // namespace autoglm

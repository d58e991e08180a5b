// plan_shards: which heads, KV heads, intermediate features and vocabulary rows each rank holds, for the
// shapes the issue names (Llama-3-8B and 70B over 2-8 ranks, KV heads replicated beyond 8), and refusals.
#include "parallel/shard_plan.h"

#include <gtest/gtest.h>

namespace autoglm {
namespace {

ModelConfig llama(int64_t heads, int64_t kv_heads, int64_t ffn, int64_t vocab) {
  ModelConfig c;
  c.vocab_size = vocab;
  c.hidden_size = heads * 128;
  c.intermediate_size = ffn;
  c.num_hidden_layers = 2;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = 128;
  return c;
}

TEST(ShardPlan, OneRankHoldsEverything) {
  const ModelConfig c = llama(32, 8, 14336, 128256);
  const ShardPlan p = plan_shards(c, {0, 1}).value();
  EXPECT_EQ(p.q_heads, (Range{0, 32}));
  EXPECT_EQ(p.kv_heads, (Range{0, 8}));
  EXPECT_EQ(p.ffn, (Range{0, 14336}));
  EXPECT_FALSE(p.vocab_parallel);
  EXPECT_EQ(p.vocab, (Range{0, 128256}));
}

TEST(ShardPlan, TheRanksCoverEveryPartOnce) {
  const ModelConfig c = llama(64, 8, 28672, 128256);  // the 70B shape
  for (int world : {2, 4, 8}) {
    int64_t heads = 0, kv = 0, ffn = 0, vocab = 0;
    for (int rank = 0; rank < world; ++rank) {
      const ShardPlan p = plan_shards(c, {rank, world}).value();
      EXPECT_EQ(p.q_heads.begin, heads);
      EXPECT_EQ(p.kv_heads.begin, kv);
      EXPECT_EQ(p.ffn.begin, ffn);
      EXPECT_EQ(p.vocab.begin, vocab);
      EXPECT_FALSE(p.kv_replicated);
      EXPECT_TRUE(p.vocab_parallel);
      // A rank's query heads read only its KV heads (groups of 64 / 8 = 8).
      EXPECT_EQ(p.q_heads.begin / 8, p.kv_heads.begin);
      EXPECT_EQ((p.q_heads.end - 1) / 8, p.kv_heads.end - 1);
      heads = p.q_heads.end, kv = p.kv_heads.end, ffn = p.ffn.end, vocab = p.vocab.end;
      const ModelConfig local = p.local_config(c);
      EXPECT_EQ(local.num_attention_heads, 64 / world);
      EXPECT_EQ(local.num_key_value_heads, 8 / world);
      EXPECT_EQ(local.intermediate_size, 28672 / world);
      EXPECT_EQ(local.vocab_size, 128256);
    }
    EXPECT_EQ(heads, 64);
    EXPECT_EQ(kv, 8);
    EXPECT_EQ(ffn, 28672);
    EXPECT_EQ(vocab, 128256);
  }
}

TEST(ShardPlan, FewerKvHeadsThanRanksAreReplicated) {
  const ModelConfig c = llama(32, 2, 1024, 1000);
  for (int rank = 0; rank < 8; ++rank) {
    const ShardPlan p = plan_shards(c, {rank, 8}).value();
    EXPECT_TRUE(p.kv_replicated);
    EXPECT_EQ(p.kv_heads, (Range{rank / 4, rank / 4 + 1}));
    EXPECT_EQ(p.q_heads, (Range{rank * 4, rank * 4 + 4}));
    EXPECT_EQ(p.q_heads.begin / 16, p.kv_heads.begin);  // groups of 32 / 2 = 16 query heads
    EXPECT_EQ(p.kv_rows(c).size(), 128);
  }
}

TEST(ShardPlan, AVocabularyTheRanksDoNotDivideStaysWhole) {
  const ModelConfig c = llama(8, 8, 64, 1001);
  const ShardPlan p = plan_shards(c, {1, 2}).value();
  EXPECT_FALSE(p.vocab_parallel);
  EXPECT_EQ(p.vocab, (Range{0, 1001}));
}

TEST(ShardPlan, Refusals) {
  EXPECT_EQ(plan_shards(llama(12, 4, 64, 100), {0, 8}).status().code(),
            StatusCode::kInvalidArgument);  // heads
  EXPECT_EQ(plan_shards(llama(12, 12, 96, 100), {0, 12}).status().code(), StatusCode::kOk);
  EXPECT_EQ(plan_shards(llama(24, 3, 96, 100), {0, 6}).status().code(),
            StatusCode::kOk);  // 2 ranks a KV head
  EXPECT_EQ(plan_shards(llama(24, 6, 64, 100), {0, 4}).status().code(), StatusCode::kInvalidArgument);  // KV
  EXPECT_EQ(plan_shards(llama(8, 8, 66, 100), {0, 4}).status().code(), StatusCode::kInvalidArgument);   // ffn
  EXPECT_EQ(plan_shards(llama(8, 8, 64, 100), {2, 2}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(plan_shards(llama(8, 8, 64, 100), {0, 0}).status().code(), StatusCode::kInvalidArgument);
  const Status s = plan_shards(llama(12, 4, 64, 100), {0, 8}).status();
  EXPECT_NE(s.message().find("attention heads (12) over 8 ranks"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace autoglm

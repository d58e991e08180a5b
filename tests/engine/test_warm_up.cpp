// The serving engine's warm-up passes: how a step size is split into sequences (every row used, the context,
// sequence and KV limits kept), and that the passes leave nothing behind that changes a later step's logits.
#include "engine/warm_up.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "backend/backend.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

WarmUpLimits limits(int64_t max_seqs, int64_t max_context, int64_t block_size, int64_t n_blocks) {
  WarmUpLimits l;
  l.max_seqs = max_seqs;
  l.max_context = max_context;
  l.block_size = block_size;
  l.n_blocks = n_blocks;
  return l;
}

TEST(WarmUpLengths, SplitsRowsEvenlyOverTheSequencesAStepMayHold) {
  EXPECT_EQ(warm_up_lengths(10, limits(4, 100, 4, 100)), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(warm_up_lengths(10, limits(16, 100, 4, 100)), std::vector<int64_t>(10, 1));
  // One sequence allowed, but the context holds 30 positions: four sequences of 25.
  EXPECT_EQ(warm_up_lengths(100, limits(1, 30, 4, 100)), std::vector<int64_t>(4, 25));
  // 64 rows in one sequence of 16-slot blocks need 4 blocks.
  EXPECT_TRUE(warm_up_lengths(64, limits(1, 64, 16, 3)).empty());
  EXPECT_EQ(warm_up_lengths(64, limits(1, 64, 16, 4)), std::vector<int64_t>{64});
  EXPECT_TRUE(warm_up_lengths(0, limits(1, 64, 16, 4)).empty());
  EXPECT_TRUE(warm_up_lengths(8, limits(0, 64, 16, 4)).empty());
}

TEST(WarmUpLengths, KeepsEveryLimitOnRandomSizes) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 9000);
    const WarmUpLimits l =
        limits(1 + static_cast<int64_t>(rng() % 1100), 1 + static_cast<int64_t>(rng() % 5000),
               1 + static_cast<int64_t>(rng() % 64), static_cast<int64_t>(rng() % 20000));
    const std::vector<int64_t> lengths = warm_up_lengths(rows, l);
    SCOPED_TRACE(::testing::Message()
                 << "rows " << rows << " seqs " << l.max_seqs << " context " << l.max_context << " block "
                 << l.block_size << " blocks " << l.n_blocks);
    const int64_t fewest = (rows + l.max_context - 1) / l.max_context;
    const int64_t n_seqs = std::min(rows, std::max(l.max_seqs, fewest));
    if (lengths.empty()) {
      // Only when the split's blocks (at most one partial block per sequence) exceed the pool.
      EXPECT_LT(l.n_blocks, rows / l.block_size + n_seqs);
      continue;
    }
    EXPECT_EQ(std::accumulate(lengths.begin(), lengths.end(), int64_t{0}), rows);
    EXPECT_EQ(static_cast<int64_t>(lengths.size()), n_seqs);
    int64_t blocks = 0;
    for (const int64_t length : lengths) {
      EXPECT_GE(length, 1);
      EXPECT_LE(length, l.max_context);
      EXPECT_LE(lengths.front() - length, 1);  // as even as possible
      blocks += (length + l.block_size - 1) / l.block_size;
    }
    EXPECT_LE(blocks, l.n_blocks);
  }
}

std::vector<float> to_host(Backend& backend, const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  EXPECT_TRUE(backend.copy(TensorView{out.data(), DType::kF32, v.shape, Device{}}, v).is_ok());
  return out;
}

// Logits of a two-sequence step on a fresh executor and cache, or after warm-up passes wrote garbage into
// the blocks the step then uses.
std::vector<float> step_logits(bool warm_up_first, int64_t* passes) {
  BackendOptions options;
  options.n_threads = 2;
  auto backend = create_backend("cpu", options);
  EXPECT_TRUE(backend.has_value());
  auto model = Model::load(test::fixture_dir("llama"), **backend);
  EXPECT_TRUE(model.has_value()) << model.status().to_string();
  constexpr int64_t kBlockSize = 4, kBlocks = 16;
  auto cache = KvCache::create(**backend, (*model)->config(), kBlockSize * kBlocks);
  EXPECT_TRUE(cache.has_value());
  Executor executor(**backend);
  if (warm_up_first) {
    // 64 rows in one sequence need 16 blocks, 65 need 17: the last size does not fit and ends the passes.
    const std::vector<int64_t> rows = {1, 7, 40, 64, 65, 80};
    auto ran =
        warm_up_step_sizes(**model, executor, *cache, **backend, rows, limits(1, 256, kBlockSize, kBlocks));
    EXPECT_TRUE(ran.has_value()) << ran.status().to_string();
    *passes = ran.has_value() ? *ran : -1;
  }
  const std::vector<int32_t> a = {5, 9, 13, 2, 7}, b = {1, 2, 3};
  const std::vector<int32_t> blocks_a = {3, 0}, blocks_b = {7};
  const SequenceSlice slices[] = {{a, 0, blocks_a, true}, {b, 0, blocks_b, true}};
  auto logits = (*model)->forward_batch(executor, *cache, kBlockSize, slices);
  EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
  return logits.has_value() ? to_host(**backend, *logits) : std::vector<float>{};
}

TEST(WarmUpStepSizes, RunsTheSizesThatFitAndLeavesLaterStepsUnchanged) {
  int64_t passes = 0;
  const std::vector<float> warmed = step_logits(true, &passes);
  EXPECT_EQ(passes, 4);
  const std::vector<float> fresh = step_logits(false, &passes);
  ASSERT_FALSE(fresh.empty());
  EXPECT_EQ(warmed, fresh);
}

}  // namespace
}  // namespace autoglm

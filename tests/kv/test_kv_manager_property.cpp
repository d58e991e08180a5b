// Seeded property test of KvManager: thousands of random operations (admit prompts that often share
// prefixes, append, fork, free, cancel right after admission, invalid calls, running the pool dry) against
// a shadow model that records what the engine would write into each block. After every step:
//  * every block's reference count equals the number of live tables holding it (so none is negative);
//  * used + cached + empty == total, and used counts exactly the referenced blocks;
//  * no block is written while shared: each token's slot is written only with ref count 1, in slot order;
//  * every sequence reads its own tokens back through its table (reused prefix blocks and copy-on-write
//    copies included), and its full-block keys are the independently computed chain;
//  * the index is consistent with block contents: each indexed key maps to a full block whose recorded
//    parent key and tokens hash to that key, and the cached blocks are exactly the unreferenced indexed ones;
//  * queries agree with mutations: an admission or append succeeds iff the query said it fits, consumes
//    exactly what the query said, and a refused one changes nothing.
// At the end, freeing every sequence returns every block to the empty or cached state. The same seed gives
// the same run (the module is deterministic).
#include "kv/kv_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <vector>

namespace autoglm {
namespace {

using Tokens = std::vector<TokenId>;

constexpr int32_t kBlockSize = 4;
constexpr int32_t kBlocks = 48;

// What the engine would have written into one block.
struct ShadowBlock {
  Tokens tokens;     // slot i holds tokens[i]
  BlockHash parent;  // key of the block before it in the sequence that wrote slot 0
};

// The test's own view of a live sequence.
struct ModelSequence {
  Tokens tokens;
  BlockHash root;
  std::vector<BlockHash> keys;  // chain keys of the full blocks, computed from tokens here
};

class PropertyRun {
 public:
  explicit PropertyRun(uint64_t seed)
      : rng_(seed), kv_(KvManager::create({kBlocks, kBlockSize, true}).value()), shadow_(kBlocks) {
    // Shared "system prompts" of 0..24 tokens over a tiny vocabulary, so prefixes and whole blocks repeat.
    for (int i = 0; i < 6; ++i)
      bases_.push_back(random_tokens(uniform(0, 24), 8));
  }

  // The log of everything observable (results, block ids, copies): equal logs mean equal runs.
  const std::vector<int64_t>& log() const { return log_; }

  void run(int n_steps) {
    for (step_ = 0; step_ < n_steps; ++step_) {
      do_one_operation();
      check_invariants();
      if (::testing::Test::HasFailure()) return;
    }
    free_everything();
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  Tokens random_tokens(int n, int vocab) {
    Tokens tokens;
    for (int i = 0; i < n; ++i)
      tokens.push_back(uniform(0, vocab - 1));
    return tokens;
  }
  SequenceId random_live() {
    auto it = live_.begin();
    std::advance(it, uniform(0, static_cast<int>(live_.size()) - 1));
    return it->first;
  }
  HashScope random_scope() {
    static const char* const kSalts[] = {"", "", "tenant-a", "tenant-b"};
    return {"model", kSalts[uniform(0, 3)]};
  }

  void do_one_operation() {
    // Free more often when the pool runs low, so that it keeps cycling between full and roomy.
    const bool low = kv_.n_blocks_available() < 8;
    const int r = uniform(0, 99);
    if (live_.empty() || r < (low ? 20 : 35)) {
      add(/*cancel=*/false);
    } else if (r < 40) {
      add(/*cancel=*/true);
    } else if (r < (low ? 55 : 75)) {
      append();
    } else if (r < (low ? 62 : 85)) {
      fork();
    } else if (r < 96) {
      free_sequence(random_live());
    } else {
      invalid_calls();
    }
  }

  // Records the write of the sequence's token at `position` into its block.
  void write(SequenceId seq, size_t position) {
    const BlockTable& table = *kv_.table(seq);
    const ModelSequence& model = live_.at(seq);
    const size_t index = position / kBlockSize;
    const BlockId block = table.blocks()[index];
    ASSERT_EQ(kv_.pool().ref_count(block), 1) << "block " << block << " written while shared";
    ShadowBlock& shadow = shadow_[static_cast<size_t>(block)];
    if (position % kBlockSize == 0) {
      shadow.tokens.clear();
      shadow.parent = index == 0 ? model.root : model.keys[index - 1];
    }
    ASSERT_EQ(shadow.tokens.size(), position % kBlockSize) << "slot written out of order in block " << block;
    shadow.tokens.push_back(model.tokens[position]);
  }

  // Extends the model's keys to its full blocks.
  static void extend_keys(ModelSequence& model) {
    while (model.keys.size() < model.tokens.size() / kBlockSize) {
      const size_t i = model.keys.size();
      const BlockHash parent = i == 0 ? model.root : model.keys[i - 1];
      model.keys.push_back(
          hash_block(parent, std::span<const TokenId>(model.tokens).subspan(i * kBlockSize, kBlockSize)));
    }
  }

  struct Snapshot {
    int32_t n_used, n_cached, n_empty, n_indexed, n_sequences;
    std::vector<int32_t> refs;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot snapshot() const {
    Snapshot s{kv_.pool().n_blocks_used(),  kv_.pool().n_blocks_cached(),
               kv_.pool().n_blocks_empty(), kv_.pool().index().size(),
               kv_.n_sequences(),           {}};
    for (BlockId b = 0; b < kBlocks; ++b)
      s.refs.push_back(kv_.pool().ref_count(b));
    return s;
  }

  void add(bool cancel) {
    Tokens prompt = bases_[static_cast<size_t>(uniform(0, 5))];
    prompt.resize(static_cast<size_t>(uniform(0, static_cast<int>(prompt.size()))));
    Tokens suffix = random_tokens(uniform(prompt.empty() ? 1 : 0, 10), 4);
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    const HashScope scope = random_scope();
    const SequenceId seq = next_id_++;

    const int32_t n_needed = kv_.n_blocks_to_allocate(prompt, scope);
    const int32_t n_available = kv_.n_blocks_available();
    const PrefixMatch match = kv_.match_prefix(prompt, scope);
    const Snapshot before = snapshot();
    Expected<int32_t> n_cached = kv_.allocate_for(seq, prompt, scope);
    log_.push_back(n_cached.has_value() ? *n_cached : -1);
    if (!n_cached.has_value()) {
      EXPECT_GT(n_needed, n_available);
      EXPECT_EQ(n_cached.status().code(), StatusCode::kResourceExhausted);
      EXPECT_TRUE(snapshot() == before) << "a refused admission changed the pool";
      ++n_expected_failures_;
      return;
    }
    ++n_expected_queries_;
    EXPECT_LE(n_needed, n_available);
    EXPECT_EQ(kv_.n_blocks_available(), n_available - n_needed);
    const int32_t n_hits_max = (static_cast<int32_t>(prompt.size()) - 1) / kBlockSize;
    EXPECT_EQ(*n_cached, std::min(match.n_blocks, n_hits_max) * kBlockSize);

    ModelSequence model{prompt, root_hash(scope), {}};
    extend_keys(model);
    live_.emplace(seq, model);
    const BlockTable& table = *kv_.table(seq);
    for (BlockId b : table.blocks())
      log_.push_back(b);
    // Reused blocks must already hold exactly this prefix, under the right parent.
    for (size_t i = 0; i < static_cast<size_t>(*n_cached / kBlockSize); ++i) {
      const ShadowBlock& shadow = shadow_[static_cast<size_t>(table.blocks()[i])];
      const Tokens expected(prompt.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
                            prompt.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize));
      EXPECT_EQ(shadow.tokens, expected)
          << "prefix hit on block " << table.blocks()[i] << " with other content";
      EXPECT_EQ(shadow.parent, i == 0 ? model.root : model.keys[i - 1]);
    }
    // The prefill writes the rest.
    for (size_t p = static_cast<size_t>(*n_cached); p < prompt.size(); ++p)
      write(seq, p);
    if (cancel) free_sequence(seq);
  }

  void append() {
    const SequenceId seq = random_live();
    const Tokens tokens = random_tokens(uniform(1, 2 * kBlockSize + 1), 4);
    const int32_t n_needed = kv_.n_blocks_to_append(seq, static_cast<int32_t>(tokens.size())).value();
    const int32_t n_available = kv_.n_blocks_available();
    const Snapshot before = snapshot();
    std::vector<BlockCopy> copies;
    Status status = kv_.append(seq, tokens, &copies);
    log_.push_back(status.is_ok() ? static_cast<int64_t>(copies.size()) : -1);
    if (!status.is_ok()) {
      EXPECT_GT(n_needed, n_available);
      EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
      EXPECT_TRUE(copies.empty());
      EXPECT_TRUE(snapshot() == before) << "a refused append changed the pool";
      ++n_expected_failures_;
      return;
    }
    EXPECT_EQ(kv_.n_blocks_available(), n_available - n_needed);
    // Copy-on-write exactly when the partial last block was shared.
    ModelSequence& model = live_.at(seq);
    const bool partial = model.tokens.size() % kBlockSize != 0;
    const bool shared = partial && before.refs[static_cast<size_t>(last_block_[seq])] > 1;
    ASSERT_EQ(copies.size(), shared ? 1u : 0u);
    for (const BlockCopy& copy : copies) {
      log_.push_back(copy.src);
      log_.push_back(copy.dst);
      EXPECT_EQ(copy.src, last_block_[seq]);
      EXPECT_EQ(kv_.pool().ref_count(copy.dst), 1);
      EXPECT_GE(kv_.pool().ref_count(copy.src), 1);  // still serving the other sequences
      shadow_[static_cast<size_t>(copy.dst)] = shadow_[static_cast<size_t>(copy.src)];
    }
    const size_t first = model.tokens.size();
    model.tokens.insert(model.tokens.end(), tokens.begin(), tokens.end());
    extend_keys(model);
    for (size_t p = first; p < model.tokens.size(); ++p)
      write(seq, p);
  }

  void fork() {
    const SequenceId parent = random_live();
    const SequenceId child = next_id_++;
    const int32_t n_available = kv_.n_blocks_available();
    ASSERT_TRUE(kv_.fork(parent, child).is_ok());
    EXPECT_EQ(kv_.n_blocks_available(), n_available);  // a fork takes no block
    live_.emplace(child, live_.at(parent));
  }

  void free_sequence(SequenceId seq) {
    ASSERT_TRUE(kv_.free(seq).is_ok());
    live_.erase(seq);
  }

  void invalid_calls() {
    const Snapshot before = snapshot();
    std::vector<BlockCopy> copies;
    const SequenceId unknown = next_id_ + 1000;
    EXPECT_EQ(kv_.free(unknown).code(), StatusCode::kNotFound);
    EXPECT_EQ(kv_.append(unknown, Tokens{1}, &copies).code(), StatusCode::kNotFound);
    EXPECT_EQ(kv_.fork(unknown, next_id_).code(), StatusCode::kNotFound);
    if (!live_.empty()) {
      const SequenceId seq = random_live();
      EXPECT_EQ(kv_.fork(seq, seq).code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(kv_.allocate_for(seq, Tokens{1, 2}, {}).status().code(), StatusCode::kInvalidArgument);
    }
    EXPECT_TRUE(snapshot() == before) << "an invalid call changed the pool";
  }

  void check_invariants() {
    const BlockPool& pool = kv_.pool();
    std::vector<int32_t> refs(kBlocks, 0);
    last_block_.clear();
    for (const auto& [seq, model] : live_) {
      const BlockTable* table = kv_.table(seq);
      ASSERT_NE(table, nullptr);
      ASSERT_EQ(static_cast<size_t>(table->n_tokens()), model.tokens.size());
      ASSERT_EQ(table->blocks().size(), (model.tokens.size() + kBlockSize - 1) / kBlockSize);
      ASSERT_TRUE(std::equal(model.keys.begin(), model.keys.end(), table->full_block_hashes().begin(),
                             table->full_block_hashes().end()));
      for (BlockId b : table->blocks())
        ++refs[static_cast<size_t>(b)];
      // The sequence reads its own tokens back through its table.
      for (size_t p = 0; p < model.tokens.size(); ++p) {
        const ShadowBlock& shadow = shadow_[static_cast<size_t>(table->blocks()[p / kBlockSize])];
        ASSERT_LT(p % kBlockSize, shadow.tokens.size()) << "sequence " << seq << " position " << p;
        ASSERT_EQ(shadow.tokens[p % kBlockSize], model.tokens[p]) << "sequence " << seq << " position " << p;
      }
      if (!table->blocks().empty()) last_block_[seq] = table->blocks().back();
    }
    int32_t n_used = 0;
    int32_t n_indexed = 0;
    int32_t n_indexed_unreferenced = 0;
    for (BlockId b = 0; b < kBlocks; ++b) {
      ASSERT_EQ(pool.ref_count(b), refs[static_cast<size_t>(b)]) << "block " << b;
      if (refs[static_cast<size_t>(b)] > 0) ++n_used;
      if (pool.hash_of(b).has_value()) {
        ++n_indexed;
        if (refs[static_cast<size_t>(b)] == 0) ++n_indexed_unreferenced;
      }
    }
    ASSERT_EQ(pool.n_blocks_used(), n_used);
    ASSERT_EQ(pool.n_blocks_used() + pool.n_blocks_cached() + pool.n_blocks_empty(), kBlocks);
    ASSERT_EQ(pool.n_blocks_cached(), n_indexed_unreferenced);
    ASSERT_EQ(pool.index().size(), n_indexed);
    for (const auto& [key, b] : pool.index().entries()) {
      const ShadowBlock& shadow = shadow_[static_cast<size_t>(b)];
      ASSERT_EQ(pool.hash_of(b), std::optional<BlockHash>(key));
      ASSERT_EQ(shadow.tokens.size(), static_cast<size_t>(kBlockSize))
          << "indexed block " << b << " not full";
      ASSERT_EQ(hash_block(shadow.parent, shadow.tokens), key)
          << "indexed block " << b << " has other content";
    }
    const KvStats stats = kv_.stats();
    ASSERT_EQ(stats.n_queries, n_expected_queries_);
    ASSERT_EQ(stats.n_allocation_failures, n_expected_failures_);
  }

  void free_everything() {
    while (!live_.empty())
      free_sequence(live_.begin()->first);
    check_invariants();
    EXPECT_EQ(kv_.pool().n_blocks_used(), 0);
    EXPECT_EQ(kv_.pool().n_blocks_cached() + kv_.pool().n_blocks_empty(), kBlocks);
    EXPECT_EQ(kv_.pool().n_blocks_cached(), kv_.pool().index().size());
    const KvStats stats = kv_.stats();
    // The run must have exercised what it claims to.
    EXPECT_GT(stats.n_hit_blocks, 0);
    EXPECT_GT(stats.n_evictions, 0);
    EXPECT_GT(stats.n_allocation_failures, 0);
    log_.push_back(stats.n_evictions);
    log_.push_back(stats.n_hit_tokens);
  }

  std::mt19937_64 rng_;
  KvManager kv_;
  std::vector<ShadowBlock> shadow_;  // by block id
  std::vector<Tokens> bases_;
  std::map<SequenceId, ModelSequence> live_;  // ordered: the run must not depend on hash-map order
  std::map<SequenceId, BlockId> last_block_;  // last block of each sequence as of the last check
  SequenceId next_id_ = 1;
  int step_ = 0;
  int64_t n_expected_queries_ = 0;
  int64_t n_expected_failures_ = 0;
  std::vector<int64_t> log_;
};

TEST(KvManagerProperty, RandomOperationsKeepTheInvariants) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    PropertyRun run(seed);
    run.run(3000);
    if (HasFailure()) return;
  }
}

TEST(KvManagerProperty, SameSeedSameRun) {
  PropertyRun first(42);
  first.run(1000);
  PropertyRun second(42);
  second.run(1000);
  EXPECT_EQ(first.log(), second.log());
  EXPECT_GT(first.log().size(), 1000u);
}

}  // namespace
}  // namespace autoglm

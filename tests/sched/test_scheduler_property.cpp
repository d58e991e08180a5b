// Seeded property test of the Scheduler over a real KvManager: thousands of random operations (add requests
// that share prefixes, steps with random finishes, aborts of waiting / running / in-flight requests, failed
// forward passes, releases) on pools small enough to preempt often, with chunked prefill on and off.
// After every operation:
//  * every block's reference count equals the number of live tables holding it (so none is negative), used
//    + available == total, and the used blocks are exactly those the live tables hold;
//  * the prefix index is consistent: every indexed key maps to a block whose key is that one;
//  * running requests (and only they) hold a table, of n_computed tokens; waiting and finished hold none;
//  * the queues agree with the statuses, and each request's output is exactly the tokens committed to it.
// For every step:
//  * schedule() is pure: a second call gives an equal plan, and neither the scheduler nor the pool changed;
//  * the plan respects the token budget and max_num_seqs, puts decodes first, admits nothing when it
//    preempts, and preempts only requests ranked behind every running request it keeps;
//  * begin_step of a fresh plan always succeeds (the block accounting is exact or conservative), and its
//    ranges start no earlier than planned and end where planned;
//  * no block that a step writes is held by another table, except by a new admission of the same step that
//    reuses it as prefix (same-step sharing: one forward pass writes it before reading it);
// Ahead (the engine planning step N + 1 before step N's tokens are known): each step is advanced when
// queued and resolved after the next one began, with aborts and failures of either in between; a request's
// output is then its resolved tokens followed by its pending ones, no keyed block covers a pending token, and
// a request at its token limit through pending tokens is not scheduled.
// At the end the scheduler drains every request within a bounded number of steps (no live-lock), and every
// block is free again.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace autoglm {
namespace {

using Tokens = std::vector<TokenId>;

constexpr int32_t kBlockSize = 4;

struct RunConfig {
  uint64_t seed;
  int32_t n_blocks;
  SchedulerOptions options;
  bool prefix_caching = true;
  bool ahead = false;  // advance each step, resolve it after the next one began
};

class PropertyRun {
 public:
  explicit PropertyRun(const RunConfig& config)
      : ahead_(config.ahead),
        rng_(config.seed),
        kv_(KvManager::create({config.n_blocks, kBlockSize, config.prefix_caching}).value()),
        sched_(Scheduler::create(config.options, kv_).value()) {
    for (int i = 0; i < 5; ++i)
      bases_.push_back(random_tokens(uniform(0, 16), 6));
  }
  PropertyRun(const PropertyRun&) = delete;
  PropertyRun& operator=(const PropertyRun&) = delete;

  const SchedulerStats& stats() const { return sched_.stats(); }

  void run(int n_ops) {
    for (int op = 0; op < n_ops; ++op) {
      do_one_operation();
      check_invariants();
      if (::testing::Test::HasFailure()) return;
    }
    drain();
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  Tokens random_tokens(int n, int vocab) {
    Tokens tokens;
    for (int i = 0; i < n; ++i)
      tokens.push_back(uniform(0, vocab - 1));
    return tokens;
  }
  SequenceId random_known() {
    auto it = outputs_.begin();
    std::advance(it, uniform(0, static_cast<int>(outputs_.size()) - 1));
    return it->first;
  }

  void do_one_operation() {
    const int r = uniform(0, 99);
    if (outputs_.empty() || r < 25) {
      add();
    } else if (r < 85) {
      step(/*allow_failure=*/true);
    } else if (r < 93) {
      abort(random_known());
    } else {
      release(random_known());
    }
  }

  void add() {
    const SequenceId id = next_id_++;
    Tokens prompt = bases_[static_cast<size_t>(uniform(0, 4))];
    Tokens suffix = random_tokens(uniform(prompt.empty() ? 1 : 0, 20), 6);
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    const int32_t max_tokens = uniform(1, 24);
    Status added = sched_.add(SchedRequest(id, prompt, max_tokens, uniform(0, 3), {"m", ""}));
    if (!added.is_ok()) {
      // Only refusals for size: a prompt over max_model_len or a request that could never fit the pool.
      ASSERT_TRUE(added.code() == StatusCode::kInvalidArgument ||
                  added.code() == StatusCode::kResourceExhausted)
          << added.to_string();
      ASSERT_EQ(sched_.find(id), nullptr);
      return;
    }
    outputs_[id] = {};
  }

  void abort(SequenceId id) {
    const SchedRequest* r = sched_.find(id);
    const bool finished = r->status() == RequestStatus::kFinished;
    Status aborted = sched_.abort(id);
    ASSERT_EQ(aborted.is_ok(), !finished) << aborted.to_string();
    ASSERT_EQ(kv_.table(id), nullptr);
  }

  void release(SequenceId id) {
    const bool finished = sched_.find(id)->status() == RequestStatus::kFinished;
    Expected<SchedRequest> record = sched_.release(id);
    ASSERT_EQ(record.has_value(), finished);
    if (!finished) return;
    ASSERT_EQ(Tokens(record->output().begin(), record->output().end()), outputs_.at(id));
    outputs_.erase(id);
  }

  // The (priority, arrival) rank of a request: lower is served first.
  std::tuple<int32_t, uint64_t> rank(SequenceId id) const {
    const SchedRequest* r = sched_.find(id);
    return {r->priority(), r->arrival()};
  }

  void check_plan(const StepPlan& plan) {
    const SchedulerOptions& options = sched_.options();
    ASSERT_LE(plan.n_tokens, options.max_num_batched_tokens);
    int32_t n_tokens = 0;
    int32_t n_admitted = 0;
    for (size_t i = 0; i < plan.seqs.size(); ++i) {
      const ScheduledSeq& s = plan.seqs[i];
      const SchedRequest* r = sched_.find(s.id);
      ASSERT_NE(r, nullptr);
      ASSERT_GE(s.n_new_tokens, 1);
      ASSERT_LE(s.end(), r->n_tokens());
      ASSERT_EQ(s.samples, s.end() == r->n_tokens());
      ASSERT_EQ(static_cast<int32_t>(i) < plan.n_decodes,
                !s.is_new_admission && s.n_new_tokens == 1 && s.samples);
      if (r->n_pending_tokens() > 0) {
        ASSERT_LT(r->n_output_tokens(), r->max_tokens()) << "scheduled past its last token";
      }
      if (s.is_new_admission) {
        ASSERT_EQ(r->status(), RequestStatus::kWaiting);
        ASSERT_EQ(r->n_pending_tokens(), 0) << "admitted with a pending token";
        ASSERT_EQ(s.start % kBlockSize, 0);
        if (!options.enable_chunked_prefill) {
          ASSERT_TRUE(s.samples);
        }
        ++n_admitted;
      } else {
        ASSERT_EQ(r->status(), RequestStatus::kRunning);
        ASSERT_EQ(s.start, r->n_computed());
      }
      n_tokens += s.n_new_tokens;
    }
    ASSERT_EQ(n_tokens, plan.n_tokens);
    ASSERT_LE(sched_.n_running() - static_cast<int32_t>(plan.preempted.size()) + n_admitted,
              options.max_num_seqs);
    if (!plan.preempted.empty()) {
      ASSERT_EQ(n_admitted, 0) << "admission in a step that preempts";
    }
    // Victims rank behind every running request that stays.
    for (SequenceId victim : plan.preempted) {
      ASSERT_EQ(sched_.find(victim)->status(), RequestStatus::kRunning);
      for (const auto& [id, output] : outputs_) {
        const SchedRequest* r = sched_.find(id);
        if (r->status() != RequestStatus::kRunning) continue;
        if (std::find(plan.preempted.begin(), plan.preempted.end(), id) != plan.preempted.end()) continue;
        ASSERT_LT(rank(id), rank(victim)) << "preempted " << victim << " ahead of " << id;
      }
    }
  }

  // Blocks written by the step hold no other reference but same-step admissions reusing them as prefix.
  void check_writes(const StepPlan& plan, const StepKv& step) {
    ASSERT_EQ(step.seqs.size(), plan.seqs.size());
    std::map<BlockId, SequenceId> writer;
    for (size_t i = 0; i < step.seqs.size(); ++i) {
      const StepSeqKv& s = step.seqs[i];
      ASSERT_EQ(s.id, plan.seqs[i].id);
      ASSERT_GE(s.start, plan.seqs[i].start);
      ASSERT_EQ(s.start + s.n_new_tokens, plan.seqs[i].end());
      ASSERT_GE(s.n_new_tokens, 1);
      if (!plan.seqs[i].is_new_admission) {
        ASSERT_EQ(s.start, plan.seqs[i].start);
      }
      ASSERT_EQ(static_cast<int32_t>(s.blocks.size()),
                (s.start + s.n_new_tokens + kBlockSize - 1) / kBlockSize);
      for (int32_t b = s.start / kBlockSize; b < static_cast<int32_t>(s.blocks.size()); ++b) {
        const BlockId block = s.blocks[static_cast<size_t>(b)];
        ASSERT_TRUE(writer.emplace(block, s.id).second) << "block " << block << " written by two seqs";
      }
    }
    for (const auto& [block, seq] : writer) {
      int32_t n_readers = 0;
      for (size_t i = 0; i < step.seqs.size(); ++i) {
        const StepSeqKv& s = step.seqs[i];
        if (s.id == seq) continue;
        const auto prefix = s.blocks.first(static_cast<size_t>(s.start / kBlockSize));
        if (std::find(prefix.begin(), prefix.end(), block) == prefix.end()) continue;
        ASSERT_TRUE(plan.seqs[i].is_new_admission) << "block " << block << " written while held";
        ++n_readers;
      }
      ASSERT_EQ(kv_.pool().ref_count(block), 1 + n_readers) << "block " << block << " written while shared";
    }
    for (const BlockCopy& copy : step.copies)
      ASSERT_TRUE(writer.contains(copy.dst));
  }

  void step(bool allow_failure) {
    const uint64_t version = sched_.state_version();
    const int32_t n_used = kv_.pool().n_blocks_used();
    const int32_t n_cached = kv_.pool().n_blocks_cached();
    StepPlan plan = sched_.schedule();
    ASSERT_EQ(sched_.schedule(), plan) << "schedule() is not deterministic";
    ASSERT_EQ(sched_.state_version(), version);
    ASSERT_EQ(kv_.pool().n_blocks_used(), n_used);
    ASSERT_EQ(kv_.pool().n_blocks_cached(), n_cached);
    check_plan(plan);
    if (::testing::Test::HasFailure()) return;

    Expected<StepKv> step = sched_.begin_step(plan);
    ASSERT_TRUE(step.has_value()) << step.status().to_string();
    check_writes(plan, *step);
    if (::testing::Test::HasFailure()) return;
    for (SequenceId id : plan.preempted)
      ASSERT_EQ(sched_.find(id)->status(), RequestStatus::kWaiting);

    // Sometimes a client cancels while the forward pass runs.
    if (!plan.seqs.empty() && uniform(0, 19) == 0) {
      const SequenceId id =
          plan.seqs[static_cast<size_t>(uniform(0, static_cast<int>(plan.seqs.size()) - 1))].id;
      ASSERT_TRUE(sched_.abort(id).is_ok());
    }
    if (allow_failure && uniform(0, 49) == 0) {
      fail(plan);
      return;
    }
    std::vector<SampledToken> sampled;
    for (const ScheduledSeq& s : plan.seqs) {
      if (!s.samples) continue;
      sampled.push_back({s.id, static_cast<TokenId>(uniform(0, 5)), uniform(0, 9) == 0});
    }
    if (!ahead_) {
      record_resolved(sampled);
      Status committed = sched_.commit_step(plan, sampled);
      ASSERT_TRUE(committed.is_ok()) << committed.to_string();
      return;
    }
    Status advanced = sched_.advance_step(plan);
    ASSERT_TRUE(advanced.is_ok()) << advanced.to_string();
    check_invariants();
    if (::testing::Test::HasFailure()) return;
    // Sometimes the older step fails while this one runs.
    if (unresolved_ && allow_failure && uniform(0, 49) == 0) {
      fail(unresolved_->plan);
      unresolved_.reset();
    }
    resolve_older();
    unresolved_ = Unresolved{std::move(plan), std::move(sampled)};
  }

  struct Unresolved {
    StepPlan plan;
    std::vector<SampledToken> sampled;
  };

  void fail(const StepPlan& plan) {
    Expected<std::vector<SequenceId>> failed = sched_.fail_step(plan);
    ASSERT_TRUE(failed.has_value()) << failed.status().to_string();
    for (SequenceId id : *failed)
      ASSERT_EQ(sched_.find(id)->finish_reason(), SchedFinishReason::kError);
  }

  // The tokens a step resolves become outputs of the requests not finished by then.
  void record_resolved(const std::vector<SampledToken>& sampled) {
    for (const SampledToken& t : sampled) {
      const SchedRequest* r = sched_.find(t.id);
      if (r != nullptr && r->status() != RequestStatus::kFinished) outputs_.at(t.id).push_back(t.token);
    }
  }

  void resolve_older() {
    if (!unresolved_) return;
    record_resolved(unresolved_->sampled);
    Status resolved = sched_.resolve_step(unresolved_->plan, unresolved_->sampled);
    ASSERT_TRUE(resolved.is_ok()) << resolved.to_string();
    unresolved_.reset();
  }

  void check_invariants() {
    const BlockPool& pool = kv_.pool();
    std::vector<int32_t> n_holders(static_cast<size_t>(pool.n_blocks_total()), 0);
    int32_t n_running = 0;
    int32_t n_waiting = 0;
    for (const auto& [id, output] : outputs_) {
      const SchedRequest* r = sched_.find(id);
      ASSERT_NE(r, nullptr);
      Tokens expected = output;
      expected.resize(output.size() + static_cast<size_t>(r->n_pending_tokens()), kPendingToken);
      ASSERT_EQ(Tokens(r->output().begin(), r->output().end()), expected) << "request " << id;
      if (!ahead_) {
        ASSERT_EQ(r->n_pending_tokens(), 0);
      }
      const BlockTable* table = kv_.table(id);
      switch (r->status()) {
        case RequestStatus::kRunning:
          ++n_running;
          ASSERT_NE(table, nullptr) << "running request " << id << " has no table";
          ASSERT_EQ(table->n_tokens(), r->n_computed());
          ASSERT_LT(r->n_computed(), r->n_tokens());
          ASSERT_LE(r->n_output_tokens(), r->max_tokens());
          ASSERT_LT(r->n_output_tokens() - r->n_pending_tokens(), r->max_tokens());
          // No key covers a pending token.
          ASSERT_LE(int64_t{table->n_keyed_blocks()} * kBlockSize, r->n_tokens() - r->n_pending_tokens());
          for (BlockId block : table->blocks())
            ++n_holders[static_cast<size_t>(block)];
          break;
        case RequestStatus::kWaiting:
          ++n_waiting;
          ASSERT_EQ(table, nullptr) << "waiting request " << id << " holds KV";
          ASSERT_EQ(r->n_computed(), 0);
          break;
        case RequestStatus::kFinished:
          ASSERT_EQ(table, nullptr) << "finished request " << id << " holds KV";
          ASSERT_NE(r->finish_reason(), SchedFinishReason::kNone);
          break;
      }
    }
    ASSERT_EQ(n_running, sched_.n_running());
    ASSERT_EQ(n_waiting, sched_.n_waiting());
    ASSERT_EQ(kv_.n_sequences(), n_running);
    ASSERT_LE(n_running, sched_.options().max_num_seqs);
    ASSERT_EQ(static_cast<int32_t>(outputs_.size()), sched_.n_requests());

    int32_t n_used = 0;
    for (BlockId block = 0; block < pool.n_blocks_total(); ++block) {
      ASSERT_GE(pool.ref_count(block), 0);
      ASSERT_EQ(pool.ref_count(block), n_holders[static_cast<size_t>(block)]) << "block " << block;
      n_used += pool.ref_count(block) > 0 ? 1 : 0;
    }
    ASSERT_EQ(pool.n_blocks_used(), n_used);
    ASSERT_EQ(pool.n_blocks_used() + pool.n_blocks_available(), pool.n_blocks_total());
    ASSERT_EQ(pool.n_blocks_cached() + pool.n_blocks_empty(), pool.n_blocks_available());
    for (const auto& [hash, block] : pool.index().entries()) {
      std::optional<BlockHash> key = pool.hash_of(block);
      ASSERT_TRUE(key.has_value() && *key == hash) << "index entry of block " << block << " is stale";
    }
  }

  // No new requests: everything must finish, within a bound.
  void drain() {
    for (int i = 0; i < 5000 && (sched_.n_running() > 0 || sched_.n_waiting() > 0); ++i) {
      if (sched_.schedule().empty()) {
        resolve_older();  // what is left waits for the tokens of the step in flight
      } else {
        step(/*allow_failure=*/false);
      }
      check_invariants();
      if (::testing::Test::HasFailure()) return;
    }
    resolve_older();
    ASSERT_EQ(sched_.n_running(), 0) << "scheduler did not drain";
    ASSERT_EQ(sched_.n_waiting(), 0) << "scheduler did not drain";
    ASSERT_EQ(kv_.pool().n_blocks_used(), 0);
    ASSERT_EQ(kv_.pool().n_blocks_available(), kv_.pool().n_blocks_total());
  }

  bool ahead_;
  std::optional<Unresolved> unresolved_;  // ahead: the step advanced last, resolved after the next begins
  std::mt19937_64 rng_;
  KvManager kv_;
  Scheduler sched_;
  std::vector<Tokens> bases_;
  std::map<SequenceId, Tokens> outputs_;  // every request the scheduler knows, with its committed tokens
  SequenceId next_id_ = 1;
};

class SchedulerProperty : public ::testing::TestWithParam<RunConfig> {};

TEST_P(SchedulerProperty, InvariantsHoldUnderRandomOperations) {
  PropertyRun run(GetParam());
  run.run(4000);
  const SchedulerStats& stats = run.stats();
  RecordProperty("steps", std::to_string(stats.n_steps));
  std::printf(
      "steps %lld admissions %lld preemptions %lld finished %lld aborted %lld failed steps %lld "
      "tokens %lld prefix-hit tokens %lld\n",
      (long long)stats.n_steps, (long long)stats.n_admissions, (long long)stats.n_preemptions,
      (long long)stats.n_finished, (long long)stats.n_aborted, (long long)stats.n_steps_failed,
      (long long)stats.n_tokens_scheduled, (long long)stats.n_prefix_hit_tokens);
  // The pools are small enough that every configuration exercises preemption and admission.
  EXPECT_GT(stats.n_preemptions, 0);
  EXPECT_GT(stats.n_admissions, 100);
  if (GetParam().prefix_caching) {
    EXPECT_GT(stats.n_prefix_hit_tokens, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configs, SchedulerProperty,
    ::testing::Values(RunConfig{1, 12, {4, 16, true, 40}}, RunConfig{2, 16, {8, 32, true, 48}},
                      RunConfig{3, 24, {6, 48, false, 48}}, RunConfig{4, 12, {16, 8, true, 40}},
                      RunConfig{5, 40, {32, 64, false, 64}}, RunConfig{6, 14, {8, 24, true, 40}, false},
                      RunConfig{7, 12, {4, 16, true, 40}, true, true},
                      RunConfig{8, 16, {8, 32, true, 48}, true, true},
                      RunConfig{9, 24, {16, 48, false, 48}, true, true},
                      RunConfig{10, 14, {8, 24, true, 40}, false, true}),
    [](const ::testing::TestParamInfo<RunConfig>& info) { return "seed" + std::to_string(info.param.seed); });

}  // namespace
}  // namespace autoglm

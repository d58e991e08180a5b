// Scheduler policy points with exact expectations on small pools (block_size 4): decodes first, token
// budget, chunked prefill on and off, priorities, FCFS blocking, prefix-hit starts, preemption victims and
// resumption, abort / finish / fail freeing every block, stale plans, same-step prefix sharing.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace autoglm {
namespace {

using Tokens = std::vector<TokenId>;

constexpr int32_t kBlockSize = 4;

// first, first+1, ..., first+n-1
Tokens iota_tokens(int32_t n, TokenId first = 0) {
  Tokens tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

SchedulerOptions options(int32_t max_num_seqs, int32_t budget, bool chunked = true, int32_t max_len = 64) {
  return {max_num_seqs, budget, chunked, max_len};
}

// A KvManager and a Scheduler over it (the scheduler keeps a pointer: not movable).
struct Harness {
  Harness(int32_t n_blocks, const SchedulerOptions& opts)
      : kv(KvManager::create({n_blocks, kBlockSize, true}).value()),
        sched(Scheduler::create(opts, kv).value()) {}
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  void add(SequenceId id, Tokens prompt, int32_t max_tokens = 100, int32_t priority = 0) {
    ASSERT_TRUE(sched.add(SchedRequest(id, std::move(prompt), max_tokens, priority)).is_ok());
  }
  // Plans, applies and commits one step; sampling seqs get token 1000 + id, finishing those in `finish`.
  StepPlan step(std::vector<SequenceId> finish = {}) {
    StepPlan plan = sched.schedule();
    Expected<StepKv> kv_step = sched.begin_step(plan);
    EXPECT_TRUE(kv_step.has_value()) << kv_step.status().to_string();
    std::vector<SampledToken> sampled;
    for (const ScheduledSeq& s : plan.seqs) {
      if (!s.samples) continue;
      const bool done = std::find(finish.begin(), finish.end(), s.id) != finish.end();
      sampled.push_back({s.id, static_cast<TokenId>(1000 + s.id), done});
    }
    Status committed = sched.commit_step(plan, sampled);
    EXPECT_TRUE(committed.is_ok()) << committed.to_string();
    return plan;
  }
  const SchedRequest& req(SequenceId id) const { return *sched.find(id); }

  KvManager kv;
  Scheduler sched;
};

Tokens output_of(const SchedRequest& r) {
  return Tokens(r.output().begin(), r.output().end());
}

ScheduledSeq seq(SequenceId id, int32_t start, int32_t n, bool is_new, bool samples) {
  return {id, start, n, is_new, samples};
}

TEST(Scheduler, RejectsBadOptions) {
  KvManager kv = KvManager::create({8, kBlockSize, true}).value();
  EXPECT_EQ(Scheduler::create(options(0, 8), kv).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Scheduler::create(options(4, 0), kv).status().code(), StatusCode::kInvalidArgument);
  // Chunked prefill off: a prompt of max_model_len tokens must fit one step.
  EXPECT_EQ(Scheduler::create(options(4, 32, false, 64), kv).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Scheduler::create(options(4, 64, false, 64), kv).has_value());
  EXPECT_TRUE(Scheduler::create(options(4, 32, true, 64), kv).has_value());
}

TEST(Scheduler, AddValidatesRequests) {
  Harness h(8, options(4, 64, true, 16));
  EXPECT_TRUE(h.sched.add(SchedRequest(1, iota_tokens(4), 4)).is_ok());
  EXPECT_EQ(h.sched.add(SchedRequest(1, iota_tokens(4), 4)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.add(SchedRequest(2, {}, 4)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.add(SchedRequest(3, iota_tokens(17), 4)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.add(SchedRequest(4, iota_tokens(4), 0)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.n_waiting(), 1);

  // At full length the KV would need more than the pool: refused, since it could never run alone.
  Harness small(2, options(4, 64, true, 64));
  EXPECT_TRUE(small.sched.add(SchedRequest(1, iota_tokens(5), 4)).is_ok());  // up to 8 tokens of KV
  EXPECT_EQ(small.sched.add(SchedRequest(2, iota_tokens(5), 5)).code(), StatusCode::kResourceExhausted);
}

TEST(Scheduler, DecodesFirstThenPrefills) {
  Harness h(16, options(8, 64));
  h.add(1, iota_tokens(5));
  StepPlan first = h.step();
  EXPECT_EQ(first.seqs, (std::vector<ScheduledSeq>{seq(1, 0, 5, true, true)}));
  EXPECT_EQ(h.req(1).n_computed(), 5);
  EXPECT_EQ(h.req(1).n_tokens(), 6);  // the sampled token is not in the KV yet

  h.add(2, iota_tokens(6, 100));
  h.add(3, iota_tokens(3, 200));
  StepPlan plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 5, 1, false, true), seq(2, 0, 6, true, true),
                                                  seq(3, 0, 3, true, true)}));
  EXPECT_EQ(plan.n_decodes, 1);
  EXPECT_EQ(plan.n_tokens, 10);
  plan = h.step();
  EXPECT_EQ(plan.n_decodes, 3);
  EXPECT_EQ(plan.seqs[2], seq(3, 3, 1, false, true));
  EXPECT_EQ(output_of(h.req(1)), (Tokens{1001, 1001, 1001}));
}

TEST(Scheduler, ChunkedPrefillSplitsPromptsToTheBudget) {
  Harness h(16, options(8, 8));
  h.add(1, iota_tokens(5));
  h.add(2, iota_tokens(12, 100));
  StepPlan plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 0, 5, true, true), seq(2, 0, 3, true, false)}));
  EXPECT_EQ(h.req(2).n_computed(), 3);
  EXPECT_EQ(h.req(2).n_output_tokens(), 0);  // a chunk yields no token
  plan = h.step();
  // Running first: the decode, then the rest of the chunked prompt up to the budget.
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 5, 1, false, true), seq(2, 3, 7, false, false)}));
  plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 6, 1, false, true), seq(2, 10, 2, false, true)}));
  EXPECT_EQ(h.req(2).n_output_tokens(), 1);
  EXPECT_EQ(h.kv.table(2)->n_tokens(), 12);
}

TEST(Scheduler, WithoutChunkingAPromptWaitsForAStepWithRoomForAllOfIt) {
  Harness h(32, options(8, 16, /*chunked=*/false, 16));
  h.add(1, iota_tokens(10));
  h.add(2, iota_tokens(10, 100));
  h.add(3, iota_tokens(2, 200));  // would fit, but must not overtake 2
  StepPlan plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 0, 10, true, true)}));
  plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 10, 1, false, true), seq(2, 0, 10, true, true),
                                                  seq(3, 0, 2, true, true)}));
  // A prompt as long as the whole budget still runs: alone.
  Harness alone(32, options(8, 16, false, 16));
  alone.add(1, iota_tokens(16), 1);
  EXPECT_EQ(alone.step().seqs, (std::vector<ScheduledSeq>{seq(1, 0, 16, true, true)}));
}

TEST(Scheduler, LowerPriorityValueFirstThenArrival) {
  Harness h(32, options(8, 6));
  h.add(1, iota_tokens(6), 100, /*priority=*/5);
  h.add(2, iota_tokens(6, 100), 100, 1);
  h.add(3, iota_tokens(6, 200), 100, 1);
  EXPECT_EQ(h.step().seqs, (std::vector<ScheduledSeq>{seq(2, 0, 6, true, true)}));
  // Then 3 (same priority, later), and 1 last: one decode token leaves 5 for 3's prefill.
  StepPlan plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(2, 6, 1, false, true), seq(3, 0, 5, true, false)}));
}

TEST(Scheduler, AdmissionStopsAtTheFirstRequestThatDoesNotFit) {
  Harness h(8, options(8, 64));
  h.add(1, iota_tokens(20), 4);       // 5 blocks
  h.add(2, iota_tokens(16, 100), 4);  // 4 blocks: only 3 left
  h.add(3, iota_tokens(2, 200), 4);   // 1 block: fits, but waits behind 2
  StepPlan plan = h.step();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 0, 20, true, true)}));
  EXPECT_EQ(h.sched.n_waiting(), 2);
  // max_num_seqs stops admission too.
  Harness few(32, options(2, 64));
  few.add(1, iota_tokens(3));
  few.add(2, iota_tokens(3, 100));
  few.add(3, iota_tokens(3, 200));
  EXPECT_EQ(few.step().seqs.size(), 2u);
  EXPECT_EQ(few.step().seqs.size(), 2u);
  EXPECT_EQ(few.sched.n_running(), 2);
}

TEST(Scheduler, NewRequestStartsAtItsPrefixHit) {
  Harness h(32, options(8, 64));
  h.add(1, iota_tokens(10));
  h.step({1});  // finishes at once: its 2 full blocks stay cached
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  Tokens prompt = iota_tokens(8);
  prompt.push_back(77);
  prompt.push_back(78);
  prompt.push_back(79);
  h.add(2, prompt);
  h.add(3, iota_tokens(8));  // fully cached: its last block is recomputed
  StepPlan plan = h.sched.schedule();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(2, 8, 3, true, true), seq(3, 4, 4, true, true)}));
  EXPECT_EQ(plan.n_tokens, 7);
  Expected<StepKv> kv_step = h.sched.begin_step(plan);
  ASSERT_TRUE(kv_step.has_value());
  EXPECT_EQ(h.req(2).n_cached_at_admission(), 8);
  EXPECT_EQ(h.req(3).n_cached_at_admission(), 4);
  EXPECT_EQ(h.sched.stats().n_prefix_hit_tokens, 12);
}

TEST(Scheduler, SameStepAdmissionsShareTheirPrefix) {
  Harness h(32, options(8, 64));
  Tokens a = iota_tokens(10);
  Tokens b = iota_tokens(8);
  b.push_back(50);
  h.add(1, a);
  h.add(2, b);
  StepPlan plan = h.sched.schedule();
  // Planned from the current index (empty): no hit for 2.
  EXPECT_EQ(plan.seqs[1], seq(2, 0, 9, true, true));
  Expected<StepKv> kv_step = h.sched.begin_step(plan);
  ASSERT_TRUE(kv_step.has_value());
  // Applied: 2 reuses the two blocks that 1 indexed in the same step.
  EXPECT_EQ(kv_step->seqs[1].start, 8);
  EXPECT_EQ(kv_step->seqs[1].n_new_tokens, 1);
  EXPECT_EQ(kv_step->seqs[1].blocks[0], kv_step->seqs[0].blocks[0]);
  EXPECT_EQ(kv_step->seqs[1].blocks[1], kv_step->seqs[0].blocks[1]);
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 4);
  ASSERT_TRUE(h.sched.commit_step(plan, std::vector<SampledToken>{{1, 5, false}, {2, 6, false}}).is_ok());
  EXPECT_EQ(h.req(2).n_computed(), 9);
}

// Three requests of 7 tokens fill a 6-block pool; their third decode needs a block each.
TEST(Scheduler, PreemptsTheHighestPriorityValueThenLatestArrival) {
  Harness h(6, options(8, 64, true, 16));
  h.add(1, iota_tokens(7), 8, /*priority=*/0);
  h.add(2, iota_tokens(7, 100), 8, /*priority=*/1);
  h.add(3, iota_tokens(7, 200), 8, /*priority=*/0);  // arrives last, but outranks 2
  h.step();
  h.step();
  EXPECT_EQ(h.kv.n_blocks_available(), 0);
  h.add(4, iota_tokens(1, 300));  // waiting: no admission in a step that preempts
  StepPlan plan = h.sched.schedule();
  EXPECT_EQ(plan.preempted, (std::vector<SequenceId>{2}));
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 8, 1, false, true), seq(3, 8, 1, false, true)}));
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  EXPECT_EQ(h.req(2).status(), RequestStatus::kWaiting);
  EXPECT_EQ(h.req(2).n_computed(), 0);
  EXPECT_EQ(h.req(2).n_preemptions(), 1);
  EXPECT_EQ(h.kv.table(2), nullptr);
  EXPECT_EQ(h.sched.stats().n_preemptions, 1);
}

TEST(Scheduler, ARequestThatIsItsOwnVictimIsPreemptedAndResumesOnItsPrefix) {
  Harness h(4, options(8, 64, true, 16));
  h.add(1, iota_tokens(5));       // 2 blocks, room to grow in its second
  h.add(2, iota_tokens(8, 100));  // 2 full blocks: its next token needs a third
  h.step();
  StepPlan plan = h.sched.schedule();
  EXPECT_EQ(plan.preempted, (std::vector<SequenceId>{2}));
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 5, 1, false, true)}));
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  ASSERT_TRUE(h.sched.commit_step(plan, std::vector<SampledToken>{{1, 7, true}}).is_ok());  // 1 finishes
  EXPECT_EQ(output_of(h.req(2)), (Tokens{1002}));  // kept across preemption
  // 2 comes back: prompt + output re-prefilled from its own cached blocks.
  plan = h.sched.schedule();
  EXPECT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(2, 8, 1, true, true)}));
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  EXPECT_EQ(h.req(2).n_cached_at_admission(), 8);
  ASSERT_TRUE(h.sched.commit_step(plan, std::vector<SampledToken>{{2, 9, false}}).is_ok());
  EXPECT_EQ(output_of(h.req(2)), (Tokens{1002, 9}));
  EXPECT_EQ(h.req(2).n_computed(), 9);
}

TEST(Scheduler, AbortOfWaitingAndRunningRequestsFreesEveryBlock) {
  Harness h(16, options(8, 64));
  h.add(1, iota_tokens(6));
  h.add(2, iota_tokens(9, 100));
  h.step();
  h.add(3, iota_tokens(4, 200));
  EXPECT_TRUE(h.sched.abort(3).is_ok());
  EXPECT_EQ(h.req(3).status(), RequestStatus::kFinished);
  EXPECT_EQ(h.req(3).finish_reason(), SchedFinishReason::kAborted);
  EXPECT_EQ(h.sched.n_waiting(), 0);
  EXPECT_TRUE(h.sched.abort(1).is_ok());
  EXPECT_EQ(h.kv.table(1), nullptr);
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 3);
  EXPECT_TRUE(h.sched.abort(2).is_ok());
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(h.kv.n_blocks_available(), 16);
  EXPECT_EQ(h.sched.n_running(), 0);
  EXPECT_EQ(h.sched.abort(2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.abort(9).code(), StatusCode::kNotFound);
  EXPECT_EQ(h.sched.stats().n_aborted, 3);
  Expected<SchedRequest> record = h.sched.release(2);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(output_of(*record), (Tokens{1002}));
  EXPECT_EQ(h.sched.find(2), nullptr);
  EXPECT_TRUE(h.sched.schedule().empty());
}

TEST(Scheduler, CommitFinishesOnStopMaxTokensAndMaxModelLen) {
  Harness h(16, options(8, 64, true, 8));
  h.add(1, iota_tokens(3), 100);
  h.add(2, iota_tokens(3, 100), 2);
  h.add(3, iota_tokens(6, 200), 100);
  h.step();
  EXPECT_EQ(h.sched.n_running(), 3);
  h.step({1});
  EXPECT_EQ(h.req(1).finish_reason(), SchedFinishReason::kStop);
  EXPECT_EQ(h.req(2).finish_reason(), SchedFinishReason::kLength);  // 2 tokens
  EXPECT_EQ(h.req(3).finish_reason(), SchedFinishReason::kLength);  // 8 tokens = max_model_len
  EXPECT_EQ(h.req(3).n_tokens(), 8);
  EXPECT_EQ(h.sched.n_running(), 0);
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(h.kv.n_sequences(), 0);
}

TEST(Scheduler, FailStepFinishesEveryScheduledRequestWithAnError) {
  Harness h(4, options(8, 64, true, 16));
  h.add(1, iota_tokens(5));
  h.add(2, iota_tokens(8, 100));
  h.step();
  h.add(3, iota_tokens(2, 300));
  StepPlan plan = h.sched.schedule();  // 2 preempts itself, 1 decodes, 3 is not admitted
  ASSERT_EQ(plan.preempted, (std::vector<SequenceId>{2}));
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  Expected<std::vector<SequenceId>> failed = h.sched.fail_step(plan);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(*failed, (std::vector<SequenceId>{1}));
  EXPECT_EQ(h.req(1).finish_reason(), SchedFinishReason::kError);
  EXPECT_EQ(h.req(2).status(), RequestStatus::kWaiting);  // preempted stays preempted
  EXPECT_EQ(h.req(3).status(), RequestStatus::kWaiting);
  EXPECT_FALSE(h.sched.step_in_flight());
  EXPECT_EQ(h.sched.n_running(), 0);
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(h.sched.fail_step(plan).status().code(), StatusCode::kInvalidArgument);
}

TEST(Scheduler, StaleOrMismatchedPlansChangeNothing) {
  Harness h(16, options(8, 64));
  h.add(1, iota_tokens(5));
  StepPlan plan = h.sched.schedule();
  h.add(2, iota_tokens(5, 100));
  EXPECT_EQ(h.sched.begin_step(plan).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.kv.n_sequences(), 0);
  plan = h.sched.schedule();
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  EXPECT_EQ(h.sched.begin_step(plan).status().code(), StatusCode::kInvalidArgument);  // in flight
  // Tokens must be the sampling seqs in plan order.
  EXPECT_EQ(h.sched.commit_step(plan, std::vector<SampledToken>{{2, 1, false}, {1, 1, false}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sched.commit_step(plan, std::vector<SampledToken>{{1, 1, false}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(h.req(1).n_computed(), 0);
  EXPECT_TRUE(h.sched.step_in_flight());
  ASSERT_TRUE(h.sched.commit_step(plan, std::vector<SampledToken>{{1, 1, false}, {2, 2, false}}).is_ok());
  EXPECT_EQ(h.req(1).n_computed(), 5);
  // A tampered plan with the right version is refused too.
  plan = h.sched.schedule();
  plan.seqs[0].n_new_tokens = 2;
  plan.n_tokens += 1;
  EXPECT_EQ(h.sched.begin_step(plan).status().code(), StatusCode::kInvalidArgument);
}

// begin_step's undo, reached only through plans that schedule() would not make (a bug): an admission
// that does not fit frees the admissions already allocated; an append that does not fit preempts the
// running requests already appended (an append cannot be undone).
TEST(Scheduler, BeginStepUndoesWhatItDidWhenAMutationFails) {
  Harness h(4, options(8, 64, true, 16));
  h.add(1, iota_tokens(4), 1);
  h.add(2, iota_tokens(16, 100), 1);
  StepPlan plan = h.sched.schedule();
  ASSERT_EQ(plan.seqs, (std::vector<ScheduledSeq>{seq(1, 0, 4, true, true)}));
  plan.seqs.push_back(seq(2, 0, 16, true, true));  // 4 blocks, 3 left
  plan.n_tokens += 16;
  EXPECT_EQ(h.sched.begin_step(plan).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(h.kv.n_sequences(), 0);
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(h.sched.n_waiting(), 2);
  EXPECT_FALSE(h.sched.step_in_flight());
  EXPECT_EQ(h.sched.begin_step(plan).status().code(), StatusCode::kInvalidArgument);  // spent

  Harness g(4, options(8, 64, true, 16));
  g.add(1, iota_tokens(5));
  g.add(2, iota_tokens(8, 100));
  g.step();
  plan = g.sched.schedule();
  ASSERT_EQ(plan.preempted, (std::vector<SequenceId>{2}));
  plan.preempted.clear();  // 2 appends into a full pool instead
  plan.seqs.push_back(seq(2, 8, 1, false, true));
  plan.n_tokens += 1;
  EXPECT_EQ(g.sched.begin_step(plan).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(g.req(1).status(), RequestStatus::kWaiting);  // appended before the failure: preempted
  EXPECT_EQ(g.kv.table(1), nullptr);
  EXPECT_EQ(g.req(2).status(), RequestStatus::kRunning);  // its append failed: unchanged
  EXPECT_EQ(g.kv.table(2)->n_tokens(), 8);
  EXPECT_EQ(g.sched.n_running(), 1);
  EXPECT_EQ(g.sched.n_waiting(), 1);
}

TEST(Scheduler, AbortWhileAStepRunsIsSkippedAtCommit) {
  Harness h(16, options(8, 64));
  h.add(1, iota_tokens(5));
  h.add(2, iota_tokens(5, 100));
  StepPlan plan = h.sched.schedule();
  ASSERT_TRUE(h.sched.begin_step(plan).has_value());
  ASSERT_TRUE(h.sched.abort(1).is_ok());
  ASSERT_TRUE(h.sched.commit_step(plan, std::vector<SampledToken>{{1, 1, false}, {2, 2, false}}).is_ok());
  EXPECT_EQ(h.req(1).status(), RequestStatus::kFinished);
  EXPECT_EQ(h.req(1).n_output_tokens(), 0);
  EXPECT_EQ(h.req(2).n_output_tokens(), 1);
  EXPECT_EQ(h.kv.n_sequences(), 1);
}

TEST(Scheduler, ScheduleIsPure) {
  Harness h(6, options(8, 64, true, 16));
  h.add(1, iota_tokens(7), 8);
  h.add(2, iota_tokens(7, 100), 8, 1);
  h.add(3, iota_tokens(7, 200), 8);
  h.step();
  h.step();
  h.add(4, iota_tokens(3, 300));
  const uint64_t version = h.sched.state_version();
  const KvStats stats = h.kv.stats();
  StepPlan a = h.sched.schedule();
  StepPlan b = h.sched.schedule();
  EXPECT_FALSE(a.preempted.empty());
  EXPECT_EQ(a, b);
  EXPECT_EQ(h.sched.state_version(), version);
  EXPECT_EQ(h.kv.stats().n_blocks_used, stats.n_blocks_used);
  EXPECT_EQ(h.kv.stats().n_queries, stats.n_queries);
  EXPECT_EQ(h.kv.n_sequences(), 3);
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// Plans and begins one step and advances it: its sampled tokens are pending.
StepPlan begin_and_advance(Harness& h) {
  StepPlan plan = h.sched.schedule();
  EXPECT_TRUE(h.sched.begin_step(plan).has_value());
  EXPECT_TRUE(h.sched.advance_step(plan).is_ok());
  return plan;
}

std::vector<SampledToken> tokens_for(const StepPlan& plan, TokenId token,
                                     std::vector<SequenceId> finish = {}) {
  std::vector<SampledToken> sampled;
  for (const ScheduledSeq& s : plan.seqs) {
    if (s.samples)
      sampled.push_back({s.id, token, std::find(finish.begin(), finish.end(), s.id) != finish.end()});
  }
  return sampled;
}

TEST(SchedulerAhead, TheNextStepIsPlannedBeforeTheTokensAreKnown) {
  Harness h(16, options(4, 64));
  h.add(1, iota_tokens(3));
  const StepPlan prefill = begin_and_advance(h);
  EXPECT_EQ(h.req(1).n_pending_tokens(), 1);
  EXPECT_EQ(h.req(1).all_tokens().back(), kPendingToken);
  EXPECT_EQ(h.req(1).n_computed(), 3);
  // Step 2 decodes the pending token.
  const StepPlan decode = h.sched.schedule();
  ASSERT_EQ(decode.seqs.size(), 1u);
  EXPECT_EQ(decode.seqs[0].start, 3);
  ASSERT_TRUE(h.sched.begin_step(decode).has_value());
  EXPECT_EQ(h.kv.table(1)->n_keyed_blocks(), 0);  // block 0 is full but holds the pending token
  ASSERT_TRUE(h.sched.advance_step(decode).is_ok());
  EXPECT_EQ(h.sched.n_unresolved_steps(), 2);
  // Steps resolve in order.
  EXPECT_EQ(h.sched.resolve_step(decode, tokens_for(decode, 9)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(h.sched.resolve_step(prefill, tokens_for(prefill, 8)).is_ok());
  EXPECT_EQ(h.kv.table(1)->n_keyed_blocks(), 1);
  ASSERT_TRUE(h.sched.resolve_step(decode, tokens_for(decode, 9)).is_ok());
  EXPECT_EQ(Tokens(h.req(1).output().begin(), h.req(1).output().end()), (Tokens{8, 9}));
  EXPECT_EQ(h.req(1).n_pending_tokens(), 0);
  // commit_step needs no step unresolved before it.
  const StepPlan third = begin_and_advance(h);
  const StepPlan fourth = h.sched.schedule();
  ASSERT_TRUE(h.sched.begin_step(fourth).has_value());
  EXPECT_EQ(h.sched.commit_step(fourth, tokens_for(fourth, 1)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(h.sched.resolve_step(third, tokens_for(third, 1)).is_ok());
  ASSERT_TRUE(h.sched.commit_step(fourth, tokens_for(fourth, 2)).is_ok());
}

TEST(SchedulerAhead, ARequestAtItsLengthThroughAPendingTokenIsNotScheduledAgain) {
  Harness h(16, options(4, 64));
  h.add(1, iota_tokens(3), /*max_tokens=*/1);
  h.add(2, iota_tokens(3, 10), /*max_tokens=*/5);
  const StepPlan first = begin_and_advance(h);
  const StepPlan next = h.sched.schedule();
  ASSERT_EQ(next.seqs.size(), 1u);  // request 2 only: request 1 has its one token, pending
  EXPECT_EQ(next.seqs[0].id, 2u);
  ASSERT_TRUE(h.sched.begin_step(next).has_value());
  ASSERT_TRUE(h.sched.advance_step(next).is_ok());
  ASSERT_TRUE(h.sched.resolve_step(first, tokens_for(first, 4)).is_ok());
  EXPECT_EQ(h.req(1).status(), RequestStatus::kFinished);
  EXPECT_EQ(h.req(1).finish_reason(), SchedFinishReason::kLength);
  EXPECT_EQ(Tokens(h.req(1).output().begin(), h.req(1).output().end()), (Tokens{4}));
  EXPECT_FALSE(h.kv.contains(1));
}

TEST(SchedulerAhead, AStopSeenAtResolutionDropsTheTokenOfTheStepAlreadyQueued) {
  Harness h(16, options(4, 64));
  h.add(1, iota_tokens(5));
  const StepPlan first = begin_and_advance(h);
  const StepPlan second = begin_and_advance(h);  // computes a row for request 1 past its stop
  ASSERT_TRUE(h.sched.resolve_step(first, tokens_for(first, 7, {1})).is_ok());
  EXPECT_EQ(h.req(1).status(), RequestStatus::kFinished);
  EXPECT_EQ(h.req(1).finish_reason(), SchedFinishReason::kStop);
  EXPECT_EQ(Tokens(h.req(1).output().begin(), h.req(1).output().end()), (Tokens{7}));
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  ASSERT_TRUE(h.sched.resolve_step(second, tokens_for(second, 8)).is_ok());
  EXPECT_EQ(Tokens(h.req(1).output().begin(), h.req(1).output().end()), (Tokens{7}));
  EXPECT_EQ(h.sched.n_running(), 0);
}

TEST(SchedulerAhead, APreemptedRequestWaitsForItsPendingTokenBeforeReadmission) {
  // 3 blocks of 4: two prompts of one block each; their two decodes need a block each and one is left.
  Harness h(3, options(4, 64));
  h.add(1, iota_tokens(4), 8, /*priority=*/0);
  h.add(2, iota_tokens(4, 20), 8, /*priority=*/1);
  const StepPlan first = begin_and_advance(h);  // both prefill: 2 blocks, both sample a pending token
  ASSERT_EQ(first.seqs.size(), 2u);
  const StepPlan second = h.sched.schedule();  // both decodes need a new block: request 2 is preempted
  ASSERT_EQ(second.preempted, (std::vector<SequenceId>{2}));
  ASSERT_TRUE(h.sched.begin_step(second).has_value());
  ASSERT_TRUE(h.sched.advance_step(second).is_ok());
  EXPECT_EQ(h.req(2).status(), RequestStatus::kWaiting);
  EXPECT_EQ(h.req(2).n_pending_tokens(), 1);
  // Not admitted while its token is pending, and nothing behind it either.
  h.add(3, iota_tokens(2, 40), 8, /*priority=*/1);
  for (const ScheduledSeq& s : h.sched.schedule().seqs)
    EXPECT_FALSE(s.is_new_admission);
  ASSERT_TRUE(h.sched.resolve_step(first, tokens_for(first, 5)).is_ok());
  EXPECT_EQ(h.req(2).n_pending_tokens(), 0);
  EXPECT_EQ(Tokens(h.req(2).output().begin(), h.req(2).output().end()), (Tokens{5}));
  ASSERT_TRUE(h.sched.resolve_step(second, tokens_for(second, 6, {1})).is_ok());
  // Request 1 stopped; request 2 re-prefills its prompt and token.
  const StepPlan third = h.sched.schedule();
  ASSERT_FALSE(third.seqs.empty());
  EXPECT_EQ(third.seqs[0].id, 2u);
  EXPECT_TRUE(third.seqs[0].is_new_admission);
  EXPECT_EQ(third.seqs[0].end(), 5);
}

TEST(SchedulerAhead, FailingAnUnresolvedStepFailsItsRequestsAndFreesTheirBlocks) {
  Harness h(16, options(4, 64));
  h.add(1, iota_tokens(6));
  h.add(2, iota_tokens(6, 30));
  const StepPlan first = begin_and_advance(h);
  const StepPlan second = h.sched.schedule();
  ASSERT_TRUE(h.sched.begin_step(second).has_value());
  Expected<std::vector<SequenceId>> failed = h.sched.fail_step(first);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->size(), 2u);
  EXPECT_EQ(h.req(1).finish_reason(), SchedFinishReason::kError);
  EXPECT_TRUE(h.req(1).output().empty());  // the pending token is dropped
  EXPECT_EQ(h.sched.n_unresolved_steps(), 0);
  EXPECT_TRUE(h.sched.fail_step(second).has_value());  // the step begun after it
  EXPECT_EQ(h.kv.pool().n_blocks_used(), 0);
  EXPECT_EQ(h.sched.fail_step(first).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

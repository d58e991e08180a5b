// Scheduler: which requests run in the next forward pass, with how many tokens each, and who is preempted
// to make room; pure CPU metadata over a KvManager (vLLM v1's scheduler, recompute preemption).
//
// A step is planned, then applied in two halves around the forward pass:
//   StepPlan plan = schedule();           // pure: reads the requests and KvManager's const queries
//   StepKv kv = begin_step(plan);         // KV mutations: preempt frees, allocations, appends, copies
//   ... the engine runs the forward pass over kv.seqs and samples ...
//   commit_step(plan, sampled);           // request state: n_computed, output tokens, finishes
// or fail_step(plan) if the forward pass failed. A plan is valid only for the state it was made from
// (state_version): begin_step refuses a stale one, so a plan never applies half.
//
// Planning ahead of the device: commit_step is advance_step then resolve_step, and an engine may split them
// to plan, begin and queue step N + 1 while step N still runs:
//   begin_step(N); queue N; advance_step(N);       // N's sampled tokens are pending (sched_request.h)
//   plan = schedule(); begin_step(N + 1); queue N + 1 (pending inputs taken from N's device output);
//   advance_step(N + 1); wait for N; resolve_step(N, sampled); ...
// Steps resolve in the order they were advanced. Until resolved, a step's sequences hold their pending
// token: its KV block is keyed once known (KvManager::resolve); a request that has all the tokens it may get
// (max_tokens, max_model_len) is not scheduled again but finishes at resolution; a stop seen at resolution
// finishes a request that a later step already computes a row for (that row's token is dropped); a
// preempted request with a pending token waits, and admission stops at it, until the token is resolved.
//
// Policy (schedule):
//  * Running requests first, in (priority, arrival) order: a decode takes 1 token, a request still in
//    chunked prefill takes min(rest of its prompt, budget left). They were admitted already; serving them
//    first keeps inter-token latency steady and lets them finish and free their blocks.
//  * Capacity: when a running request cannot get the blocks for its tokens, the running request with the
//    highest priority value and the latest arrival (the back of the running order) is preempted, repeatedly
//    until the blocks fit. If that victim is the request itself, it is preempted and the pass stops. The
//    front of the running order is thus never preempted while anything else runs, so it always progresses;
//    add() refuses requests that could not fit the pool alone, so nothing live-locks.
//  * Then waiting requests in (priority, arrival) order, while the token budget, max_num_seqs and the blocks
//    allow. A new request starts at its prefix-cache hit (whole blocks, at most its length - 1, as
//    KvManager::allocate_for takes it) and gets the rest of its tokens (a preempted one re-prefills prompt +
//    output), cut to the budget left with chunked prefill on; with it off it waits for a step with budget
//    for all of them (max_num_batched_tokens >= max_model_len is checked at creation, so it always fits in
//    some step). Admission stops at the first request that does not fit (no skipping ahead: a large request
//    is not starved by small ones behind it), and there is none in a step that preempted (the room went to
//    the running requests).
//  * Blocks are counted across the step: the sum of the needs stays within what is available now plus what
//    the planned preemptions free (KvManager::n_blocks_freed_by, exact with shared blocks).
//
// Same-step prefix sharing. begin_step allocates new requests in plan order before any append, so a later
// admission may reuse full blocks that an earlier one of the same step indexed (vLLM does the same; the
// forward pass writes every layer's KV before attention reads it). Its computed range then starts later
// than planned: StepKv carries the actual start, never earlier than the plan's. The plan counts a hit on a
// cached (unreferenced) block only when the fresh blocks of earlier admissions of the step surely come from
// empty blocks; otherwise such a block might be evicted first, and the plan counts only the hits on blocks
// that live sequences hold. So begin_step consumes at most the blocks planned and cannot run out.
//
// Cost: schedule() is O(running + admitted) plus keying the prompts it tries to admit (O(tokens)); with no
// preemption it allocates only the plan's vectors. Not thread-safe: owned by the engine's step loop, which
// also owns the KvManager (no one else may mutate it while the scheduler lives).
//
// Limitations: no speculative tokens, no n>1 forks, no preemption to admit a higher-priority waiting request
// (only running requests preempt). A failed step (fail_step) leaves the blocks indexed by its allocations in
// the prefix index although their KV was never written; an engine that survives a failed forward pass
// should drop the prefix cache (KvManager has no un-index yet).
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "kv/kv_manager.h"
#include "kv/kv_types.h"
#include "sched/sched_request.h"

namespace autoglm {

struct SchedulerOptions {
  int32_t max_num_seqs = 256;             // running requests at most (the batch's sequences)
  int32_t max_num_batched_tokens = 2048;  // tokens per step at most (the token budget)
  bool enable_chunked_prefill = true;     // split prompts over steps to fit the budget
  int32_t max_model_len = 8192;           // tokens per sequence at most (prompt + output)
};

// One sequence of a step: compute the KV (and the logits) of all_tokens[start, start + n_new_tokens).
struct ScheduledSeq {
  SequenceId id = 0;
  int32_t start = 0;  // n_computed, or the prefix-hit start of a new admission
  int32_t n_new_tokens = 0;
  bool is_new_admission = false;  // waiting before this step: begin_step allocates its table
  bool samples = false;           // start + n_new_tokens == all tokens: the step yields its next token
  int32_t end() const { return start + n_new_tokens; }
  friend bool operator==(const ScheduledSeq&, const ScheduledSeq&) = default;
};

struct StepPlan {
  // Decodes (running, 1 token, sampling; the longest contexts first), then prefills.
  std::vector<ScheduledSeq> seqs;
  int32_t n_decodes = 0;              // seqs[0, n_decodes) are the decodes
  std::vector<SequenceId> preempted;  // running requests sent back to waiting, in preemption order
  int32_t n_tokens = 0;               // sum of n_new_tokens (<= max_num_batched_tokens)
  uint64_t state_version = 0;         // the scheduler state the plan was made from
  bool empty() const { return seqs.empty() && preempted.empty(); }
  friend bool operator==(const StepPlan&, const StepPlan&) = default;
};

// KV view of one scheduled sequence after begin_step.
struct StepSeqKv {
  SequenceId id = 0;
  // Actual range computed: start >= the plan's for a new admission (same-step prefix sharing), equal
  // otherwise; start + n_new_tokens == the plan's end().
  int32_t start = 0;
  int32_t n_new_tokens = 0;
  // The sequence's block table (covers its first start + n_new_tokens tokens). Valid until the next call
  // that mutates the scheduler (commit_step, fail_step, finish, abort, begin_step).
  std::span<const BlockId> blocks;
};

struct StepKv {
  std::vector<StepSeqKv> seqs;    // in the order of StepPlan::seqs
  std::vector<BlockCopy> copies;  // copy-on-write copies to run before the forward pass
};

// What the engine sampled for a sequence whose ScheduledSeq::samples is set.
struct SampledToken {
  SequenceId id = 0;
  TokenId token = 0;
  bool finished = false;  // EOS / stop condition seen by the engine (max_tokens and max_model_len are ours)
};

struct SchedulerStats {
  int64_t n_steps = 0;              // steps begun
  int64_t n_steps_failed = 0;       // steps ended by fail_step
  int64_t n_admissions = 0;         // waiting -> running, preempted ones re-admitted included
  int64_t n_preemptions = 0;        // running -> waiting
  int64_t n_finished = 0;           // every finish, whatever the reason
  int64_t n_aborted = 0;            // finishes by abort
  int64_t n_tokens_scheduled = 0;   // tokens computed (actual ranges)
  int64_t n_prefix_hit_tokens = 0;  // tokens reused from the prefix cache at admission
};

class Scheduler {
 public:
  // kInvalidArgument for a non-positive limit, or chunked prefill off with max_num_batched_tokens <
  // max_model_len (a prompt could then never be scheduled). The KvManager must outlive the scheduler.
  static Expected<Scheduler> create(const SchedulerOptions& options, KvManager& kv);

  // Queues a request (status waiting, arrival assigned). kInvalidArgument for a duplicate id, an empty
  // prompt, a prompt over max_model_len or max_tokens < 1; kResourceExhausted if its KV at full length
  // could never fit the pool alone.
  Status add(SchedRequest request);
  // Ends a waiting or running request: its KV is freed, it leaves the queues, status finished with
  // `reason`. Allowed while a step is in flight (the step then skips it). kNotFound, or kInvalidArgument if
  // already finished or reason is kNone.
  Status finish(SequenceId id, SchedFinishReason reason);
  Status abort(SequenceId id) { return finish(id, SchedFinishReason::kAborted); }
  // Forgets a finished request and hands back its record (output tokens, finish reason).
  // kNotFound, or kInvalidArgument if not finished.
  Expected<SchedRequest> release(SequenceId id);

  // The next step's plan. Pure: neither the scheduler nor the KvManager change.
  StepPlan schedule() const;
  // Applies the plan's KV mutations, in this order: preemptions (free), new admissions in plan order
  // (allocate_for of their tokens [0, end)), then appends of the running ones (tokens [start, end)).
  // All or nothing, with one exception: the planned preemptions stay applied if a later mutation fails
  // (their requests are consistently back in waiting). A failure after appends (a bug: the plan rules out
  // running short) also preempts the running requests already appended, since an append cannot be undone.
  // kInvalidArgument if a step is in flight or the plan is stale or malformed.
  Expected<StepKv> begin_step(const StepPlan& plan);
  // Ends the step begun with `plan`, no earlier step being unresolved: advance_step then resolve_step.
  // kInvalidArgument, and no change, if the plan or the tokens do not match.
  Status commit_step(const StepPlan& plan, std::span<const SampledToken> sampled);
  // The step begun with `plan` is queued: n_computed moves to each seq's end and each sampling seq gets a
  // pending token. Another step may begin from here on. kInvalidArgument if `plan` is not the step begun.
  Status advance_step(const StepPlan& plan);
  // Gives the oldest advanced step its tokens. `sampled` lists the sampling seqs of the plan, in plan order
  // (a token for a request finished meanwhile is dropped). Sampling seqs get their token, and finish (KV
  // freed, later pending tokens dropped) on SampledToken::finished, max_tokens or max_model_len.
  // kInvalidArgument, and no change, if `plan` is not the oldest unresolved step or the tokens do not match.
  Status resolve_step(const StepPlan& plan, std::span<const SampledToken> sampled);
  // The forward pass of the step `plan` (begun, or advanced and not resolved) failed: every scheduled
  // request still running, or waiting for a token of this step, is finished with kError (KV freed); returns
  // their ids. kInvalidArgument if `plan` is neither.
  Expected<std::vector<SequenceId>> fail_step(const StepPlan& plan);

  // --- Queries. ---
  const SchedulerOptions& options() const { return options_; }
  int32_t n_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t n_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  // Every record, finished ones not yet released included.
  int32_t n_requests() const { return static_cast<int32_t>(requests_.size()); }
  // nullptr if unknown (or released). Valid until the request is released.
  const SchedRequest* find(SequenceId id) const;
  // A step is begun and not yet advanced (or committed, or failed).
  bool step_in_flight() const { return in_flight_; }
  // Steps advanced and not yet resolved.
  int32_t n_unresolved_steps() const { return static_cast<int32_t>(unresolved_.size()); }
  // Changes with every mutation of the scheduler's state.
  uint64_t state_version() const { return version_; }
  const SchedulerStats& stats() const { return stats_; }

 private:
  // Waiting queue key: lower priority value first, then earlier arrival.
  struct QueueKey {
    int32_t priority;
    uint64_t arrival;
    SchedRequest* request;
    friend bool operator<(const QueueKey& a, const QueueKey& b) {
      return a.priority != b.priority ? a.priority < b.priority : a.arrival < b.arrival;
    }
  };
  static QueueKey key_of(SchedRequest* r) { return {r->priority_, r->arrival_, r}; }

  Scheduler(const SchedulerOptions& options, KvManager& kv) : options_(options), kv_(&kv) {}
  SchedRequest* find_mutable(SequenceId id);
  Status validate_plan(const StepPlan& plan) const;
  // Frees a running request's KV and puts it back in waiting (not removed from running_).
  void preempt(SchedRequest& r);
  // Frees a running request's KV (not removed from running_) and marks it finished.
  void finish_running(SchedRequest& r, SchedFinishReason reason);
  void mark_finished(SchedRequest& r, SchedFinishReason reason);
  // Drops finished / waiting entries from running_, keeping its order.
  void compact_running();
  // Merges the plan's new admissions (already running, in (priority, arrival) order) into running_.
  void merge_admitted(const StepPlan& plan);
  // kInvalidArgument unless `sampled` names the plan's sampling seqs, in plan order.
  static Status check_sampled(const StepPlan& plan, std::span<const SampledToken> sampled);
  // resolve_step once the plan is the oldest unresolved step and the tokens passed check_sampled.
  void resolve_checked(const StepPlan& plan, std::span<const SampledToken> sampled);
  // A request whose pending tokens give it every token it may get: it is not scheduled again. (Without
  // pending tokens a request at its limit has finished, or is a prompt of max_model_len still to sample.)
  bool has_all_tokens(const SchedRequest& r) const {
    return r.n_pending_tokens_ > 0 &&
           (r.n_output_tokens() >= r.max_tokens_ || r.n_tokens() >= options_.max_model_len);
  }

  SchedulerOptions options_;
  KvManager* kv_;
  std::unordered_map<SequenceId, SchedRequest> requests_;  // node-based: the pointers below stay valid
  std::vector<SchedRequest*> running_;                     // sorted by (priority, arrival)
  std::set<QueueKey> waiting_;
  uint64_t next_arrival_ = 0;
  uint64_t version_ = 0;
  bool in_flight_ = false;
  uint64_t in_flight_version_ = 0;   // state_version of the plan in flight
  std::deque<uint64_t> unresolved_;  // state_version of the steps advanced and not resolved, oldest first
  SchedulerStats stats_;
};

}  // namespace autoglm

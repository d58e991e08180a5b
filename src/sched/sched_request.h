// The scheduler's record of one request: its tokens, its place in the queues and how much of it has KV.
//
// "All tokens" are the prompt followed by the output sampled so far. n_computed counts the leading tokens
// whose KV is in the cache (the size of the sequence's KvManager table once the step that wrote them is
// committed). A running request in decode has n_computed == n_tokens() - 1: the token sampled last is not
// in the KV yet, the next step appends it. A request needs a sampled token when a step brings n_computed to
// n_tokens().
//
// Pending tokens: an engine that queues step N + 1 before step N's sampled tokens reach the host advances
// step N first (Scheduler::advance_step): its positions count as computed and each sampling sequence gets
// kPendingToken as its next token, which step N + 1 feeds from the device; resolving the step
// (Scheduler::resolve_step) writes the values. Pending tokens are always a suffix of all_tokens().
//
// Lifecycle: waiting -> running (admitted: KV allocated) -> finished, with running -> waiting on preemption
// (by recompute: all its KV is freed, n_computed drops to 0, and it later re-prefills prompt + output,
// usually hitting the blocks it left in the prefix cache). Waiting and finished requests hold no KV.
//
// The Scheduler owns the records and is the only writer; everyone else reads them through Scheduler::find.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kv/block_hash.h"
#include "kv/kv_types.h"

namespace autoglm {

enum class RequestStatus {
  kWaiting,   // queued for admission; holds no KV
  kRunning,   // admitted; holds a KV table of n_computed tokens (outside a step)
  kFinished,  // done for good; holds no KV; kept until Scheduler::release
};

enum class SchedFinishReason {
  kNone,     // not finished
  kStop,     // the engine said so (EOS, stop string, ...)
  kLength,   // max_tokens reached, or the sequence reached max_model_len
  kAborted,  // cancelled by the client
  kError,    // its step failed (Scheduler::fail_step)
};

class SchedRequest {
 public:
  // priority: lower is served first (vLLM's convention); equal priorities go by arrival.
  SchedRequest(SequenceId id, std::vector<TokenId> prompt, int32_t max_tokens, int32_t priority = 0,
               HashScope scope = {})
      : id_(id),
        tokens_(std::move(prompt)),
        n_prompt_tokens_(static_cast<int32_t>(tokens_.size())),
        max_tokens_(max_tokens),
        priority_(priority),
        scope_(std::move(scope)) {}

  SequenceId id() const { return id_; }
  // Prompt then output.
  std::span<const TokenId> all_tokens() const { return tokens_; }
  std::span<const TokenId> prompt() const {
    return all_tokens().first(static_cast<size_t>(n_prompt_tokens_));
  }
  std::span<const TokenId> output() const {
    return all_tokens().subspan(static_cast<size_t>(n_prompt_tokens_));
  }
  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t n_prompt_tokens() const { return n_prompt_tokens_; }
  int32_t n_output_tokens() const { return n_tokens() - n_prompt_tokens_; }
  int32_t max_tokens() const { return max_tokens_; }
  int32_t priority() const { return priority_; }
  // Order of add() over the scheduler's life: the tie-break between equal priorities.
  uint64_t arrival() const { return arrival_; }
  const HashScope& scope() const { return scope_; }

  RequestStatus status() const { return status_; }
  SchedFinishReason finish_reason() const { return finish_reason_; }
  int32_t n_computed() const { return n_computed_; }
  // Tokens reused from the prefix cache at the latest admission (a multiple of the block size).
  int32_t n_cached_at_admission() const { return n_cached_at_admission_; }
  int32_t n_preemptions() const { return n_preemptions_; }
  // Output tokens of steps advanced but not resolved yet (kPendingToken at the end of all_tokens()).
  int32_t n_pending_tokens() const { return n_pending_tokens_; }

 private:
  friend class Scheduler;

  SequenceId id_;
  std::vector<TokenId> tokens_;
  int32_t n_prompt_tokens_;
  int32_t max_tokens_;
  int32_t priority_;
  uint64_t arrival_ = 0;
  HashScope scope_;
  RequestStatus status_ = RequestStatus::kWaiting;
  SchedFinishReason finish_reason_ = SchedFinishReason::kNone;
  int32_t n_computed_ = 0;
  int32_t n_cached_at_admission_ = 0;
  int32_t n_preemptions_ = 0;
  int32_t n_pending_tokens_ = 0;
};

}  // namespace autoglm

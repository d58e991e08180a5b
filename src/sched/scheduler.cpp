#include "sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <string>
#include <utility>

namespace autoglm {
namespace {

std::string req_name(SequenceId id) {
  return "sched: request " + std::to_string(id);
}

int32_t ceil_div(int64_t a, int32_t b) {
  return static_cast<int32_t>((a + b - 1) / b);
}

}  // namespace

Expected<Scheduler> Scheduler::create(const SchedulerOptions& options, KvManager& kv) {
  if (options.max_num_seqs < 1 || options.max_num_batched_tokens < 1 || options.max_model_len < 1) {
    return invalid_argument("sched: max_num_seqs, max_num_batched_tokens and max_model_len must be >= 1");
  }
  if (!options.enable_chunked_prefill && options.max_num_batched_tokens < options.max_model_len) {
    return invalid_argument("sched: with chunked prefill off, max_num_batched_tokens (" +
                            std::to_string(options.max_num_batched_tokens) + ") must be >= max_model_len (" +
                            std::to_string(options.max_model_len) + ")");
  }
  return Scheduler(options, kv);
}

const SchedRequest* Scheduler::find(SequenceId id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

SchedRequest* Scheduler::find_mutable(SequenceId id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

Status Scheduler::add(SchedRequest request) {
  const SequenceId id = request.id_;
  if (requests_.contains(id)) return invalid_argument(req_name(id) + " already exists");
  if (request.status_ != RequestStatus::kWaiting || request.n_output_tokens() != 0) {
    return invalid_argument(req_name(id) + ": only a new request can be added");
  }
  const int32_t n_prompt = request.n_prompt_tokens();
  if (n_prompt < 1 || n_prompt > options_.max_model_len) {
    return invalid_argument(req_name(id) + ": prompt of " + std::to_string(n_prompt) +
                            " tokens, must be 1.." + std::to_string(options_.max_model_len));
  }
  if (request.max_tokens_ < 1) return invalid_argument(req_name(id) + ": max_tokens must be >= 1");
  // The most KV it ever holds: all its tokens but the last sampled one. If that cannot fit the pool alone,
  // it would preempt itself forever.
  const int64_t n_final = std::min<int64_t>(int64_t{n_prompt} + request.max_tokens_, options_.max_model_len);
  const int64_t n_kv_max = std::max<int64_t>(n_prompt, n_final - 1);
  const int32_t n_blocks_max = ceil_div(n_kv_max, kv_->block_size());
  if (n_blocks_max > kv_->pool().n_blocks_total()) {
    return resource_exhausted(req_name(id) + ": needs up to " + std::to_string(n_blocks_max) +
                              " KV blocks, the pool has " + std::to_string(kv_->pool().n_blocks_total()));
  }
  request.arrival_ = next_arrival_++;
  SchedRequest& stored = requests_.emplace(id, std::move(request)).first->second;
  waiting_.insert(key_of(&stored));
  ++version_;
  return Status::ok();
}

void Scheduler::mark_finished(SchedRequest& r, SchedFinishReason reason) {
  r.tokens_.resize(r.tokens_.size() - static_cast<size_t>(r.n_pending_tokens_));  // never to be known
  r.n_pending_tokens_ = 0;
  r.status_ = RequestStatus::kFinished;
  r.finish_reason_ = reason;
  r.n_computed_ = 0;
  ++stats_.n_finished;
  if (reason == SchedFinishReason::kAborted) ++stats_.n_aborted;
}

void Scheduler::finish_running(SchedRequest& r, SchedFinishReason reason) {
  [[maybe_unused]] Status freed = kv_->free(r.id_);
  assert(freed.is_ok() && "a running request always has a block table");
  mark_finished(r, reason);
}

void Scheduler::preempt(SchedRequest& r) {
  [[maybe_unused]] Status freed = kv_->free(r.id_);
  assert(freed.is_ok() && "a running request always has a block table");
  r.status_ = RequestStatus::kWaiting;
  r.n_computed_ = 0;
  ++r.n_preemptions_;
  ++stats_.n_preemptions;
  waiting_.insert(key_of(&r));
}

void Scheduler::compact_running() {
  std::erase_if(running_, [](const SchedRequest* r) { return r->status_ != RequestStatus::kRunning; });
}

Status Scheduler::finish(SequenceId id, SchedFinishReason reason) {
  SchedRequest* r = find_mutable(id);
  if (r == nullptr) return not_found(req_name(id) + " is unknown");
  if (reason == SchedFinishReason::kNone) return invalid_argument(req_name(id) + ": finish needs a reason");
  switch (r->status_) {
    case RequestStatus::kFinished:
      return invalid_argument(req_name(id) + " is already finished");
    case RequestStatus::kWaiting:
      waiting_.erase(key_of(r));
      mark_finished(*r, reason);
      break;
    case RequestStatus::kRunning:
      finish_running(*r, reason);
      std::erase(running_, r);
      break;
  }
  ++version_;
  return Status::ok();
}

Expected<SchedRequest> Scheduler::release(SequenceId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return not_found(req_name(id) + " is unknown");
  if (it->second.status_ != RequestStatus::kFinished) {
    return invalid_argument(req_name(id) + " is not finished");
  }
  SchedRequest record = std::move(it->second);
  requests_.erase(it);
  ++version_;
  return record;
}

StepPlan Scheduler::schedule() const {
  StepPlan plan;
  plan.state_version = version_;
  const int32_t block_size = kv_->block_size();
  int32_t budget = options_.max_num_batched_tokens;
  int32_t n_blocks_left = kv_->n_blocks_available();
  int32_t n_blocks_freed = 0;       // what the planned preemptions free, already in n_blocks_left
  size_t n_live = running_.size();  // running_[n_live, end) are the planned victims

  // Running requests, front (lowest priority value, earliest arrival) first.
  for (size_t i = 0; i < n_live && budget > 0; ++i) {
    const SchedRequest& r = *running_[i];
    if (has_all_tokens(r)) continue;  // finishes when its last token is resolved
    const int32_t n_rest = r.n_tokens() - r.n_computed_;
    const int32_t n_new = std::min(n_rest, budget);
    if (n_new < n_rest && !options_.enable_chunked_prefill) continue;  // not reachable: running = decoding
    Expected<int32_t> n_needed = kv_->n_blocks_to_append(r.id_, n_new);
    if (!n_needed) continue;  // not reachable: a running request has a table
    bool preempted_self = false;
    while (*n_needed > n_blocks_left) {
      // Victim: the back of the running order (highest priority value, latest arrival).
      const SchedRequest& victim = *running_[--n_live];
      plan.preempted.push_back(victim.id_);
      if (n_live == i) {
        preempted_self = true;
        break;
      }
      const int32_t n_freed = kv_->n_blocks_freed_by(plan.preempted).value();
      n_blocks_left += n_freed - n_blocks_freed;
      n_blocks_freed = n_freed;
    }
    if (preempted_self) break;
    n_blocks_left -= *n_needed;
    budget -= n_new;
    plan.n_tokens += n_new;
    const ScheduledSeq seq{r.id_, r.n_computed_, n_new, false, n_new == n_rest};
    if (n_new == 1 && seq.samples) {
      plan.seqs.insert(plan.seqs.begin() + plan.n_decodes++, seq);  // ahead of the prefills so far
    } else {
      plan.seqs.push_back(seq);
    }
  }
  // Decodes with the longest contexts first: a device runs a step's decode attention as many waves of
  // blocks in row order, and the step ends when the last block does; started last, the shortest rows
  // leave the least idle tail (longest-processing-time-first).
  std::stable_sort(plan.seqs.begin(), plan.seqs.begin() + plan.n_decodes,
                   [](const ScheduledSeq& a, const ScheduledSeq& b) { return a.start > b.start; });
  if (!plan.preempted.empty()) return plan;

  // Waiting requests, in (priority, arrival) order, while everything fits.
  auto n_seqs = static_cast<int32_t>(running_.size());
  const int32_t n_blocks_empty = kv_->pool().n_blocks_empty();
  int32_t n_fresh_admitted = 0;  // upper bound of the fresh blocks that this step's admissions allocate
  for (const QueueKey& key : waiting_) {
    if (budget <= 0 || n_seqs >= options_.max_num_seqs) break;
    const SchedRequest& r = *key.request;
    if (r.n_pending_tokens_ > 0) break;  // preempted ahead of its token: waits for it, and nothing passes it
    const std::span<const TokenId> tokens = r.all_tokens();
    const PrefixReuse reuse = kv_->match_reusable(tokens, r.scope_);
    // Allocations take empty blocks before evicting cached ones: while the earlier admissions' fresh blocks
    // fit in the empty ones, this request's hits on cached blocks survive until its own allocate_for
    // (which retains them before allocating). Otherwise count only the hits no eviction can take.
    const bool cached_hits_safe = n_fresh_admitted <= n_blocks_empty;
    const int32_t n_hit_blocks = cached_hits_safe ? reuse.n_blocks : reuse.n_blocks_held_leading;
    const int32_t n_held_hits = cached_hits_safe ? reuse.n_blocks_held : reuse.n_blocks_held_leading;
    const int32_t start = n_hit_blocks * block_size;
    const int32_t n_rest = r.n_tokens() - start;
    int32_t n_new = n_rest;
    if (n_new > budget) {
      if (!options_.enable_chunked_prefill) break;
      n_new = budget;
    }
    // allocate_for(tokens[0, end)) takes a block per block of the range, minus the reused blocks that live
    // sequences already hold (reused cached blocks leave the available count like fresh ones).
    const int32_t n_blocks = ceil_div(start + n_new, block_size);
    const int32_t n_needed = n_blocks - n_held_hits;
    if (n_needed > n_blocks_left) break;
    n_blocks_left -= n_needed;
    n_fresh_admitted += n_blocks - n_hit_blocks;
    budget -= n_new;
    plan.n_tokens += n_new;
    ++n_seqs;
    plan.seqs.push_back({r.id_, start, n_new, true, n_new == n_rest});
  }
  return plan;
}

Status Scheduler::validate_plan(const StepPlan& plan) const {
  if (plan.state_version != version_) {
    return invalid_argument("sched: stale plan (made at state " + std::to_string(plan.state_version) +
                            ", now " + std::to_string(version_) + ")");
  }
  // Preemptions are the back of the running order, last first (what schedule() produces); this also makes
  // them distinct.
  if (plan.preempted.size() > running_.size()) return invalid_argument("sched: plan preempts too many");
  for (size_t k = 0; k < plan.preempted.size(); ++k) {
    if (running_[running_.size() - 1 - k]->id_ != plan.preempted[k]) {
      return invalid_argument("sched: plan preempts " + req_name(plan.preempted[k]) + " out of order");
    }
  }
  const size_t n_live = running_.size() - plan.preempted.size();
  int64_t n_tokens = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    const SchedRequest* r = find(s.id);
    if (r == nullptr) return invalid_argument("sched: plan schedules unknown " + req_name(s.id));
    const RequestStatus expected = s.is_new_admission ? RequestStatus::kWaiting : RequestStatus::kRunning;
    if (r->status_ != expected || s.n_new_tokens < 1 || s.end() > r->n_tokens() || s.start < 0 ||
        s.samples != (s.end() == r->n_tokens()) || (!s.is_new_admission && s.start != r->n_computed_)) {
      return invalid_argument("sched: plan does not match the state of " + req_name(s.id));
    }
    if (!s.is_new_admission &&
        std::find(running_.begin() + static_cast<ptrdiff_t>(n_live), running_.end(), r) != running_.end()) {
      return invalid_argument("sched: plan both runs and preempts " + req_name(s.id));
    }
    n_tokens += s.n_new_tokens;
  }
  if (n_tokens != plan.n_tokens) return invalid_argument("sched: plan's token count is inconsistent");
  return Status::ok();
}

void Scheduler::merge_admitted(const StepPlan& plan) {
  // The admissions are the plan's tail, already in (priority, arrival) order: merge from the back.
  size_t n_admitted = 0;
  for (const ScheduledSeq& s : plan.seqs)
    n_admitted += s.is_new_admission ? 1 : 0;
  if (n_admitted == 0) return;
  size_t old_end = running_.size();
  running_.resize(old_end + n_admitted);
  size_t out = running_.size();
  for (size_t j = plan.seqs.size(); j-- > 0;) {
    if (!plan.seqs[j].is_new_admission) continue;
    SchedRequest* admitted = find_mutable(plan.seqs[j].id);
    while (old_end > 0 && key_of(admitted) < key_of(running_[old_end - 1])) {
      running_[--out] = running_[--old_end];
    }
    running_[--out] = admitted;
  }
}

Expected<StepKv> Scheduler::begin_step(const StepPlan& plan) {
  if (in_flight_) return invalid_argument("sched: a step is already in flight");
  AUTOGLM_RETURN_IF_ERROR(validate_plan(plan));
  ++version_;  // the plan is spent from here on, whatever happens

  for (SequenceId id : plan.preempted)
    preempt(*find_mutable(id));
  running_.resize(running_.size() - plan.preempted.size());

  // n_new_tokens > 0 in step.seqs[i] marks a mutation done, for the undo.
  StepKv step;
  step.seqs.resize(plan.seqs.size());
  auto undo = [&](Status failure) -> Status {
    for (size_t i = 0; i < plan.seqs.size(); ++i) {
      if (step.seqs[i].n_new_tokens == 0) continue;
      SchedRequest& r = *find_mutable(plan.seqs[i].id);
      if (plan.seqs[i].is_new_admission) {
        [[maybe_unused]] Status freed = kv_->free(r.id_);  // still plainly waiting
        assert(freed.is_ok());
      } else {
        preempt(r);  // an append cannot be undone; recompute is a consistent state
      }
    }
    compact_running();
    return failure.with_context("sched: begin_step");
  };

  // New admissions first, in plan order: a later one may reuse blocks an earlier one indexed, and no
  // append evicts a cached block that an admission planned to reuse.
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    if (!s.is_new_admission) continue;
    const SchedRequest& r = *find(s.id);
    Expected<int32_t> hit =
        kv_->allocate_for(s.id, r.all_tokens().first(static_cast<size_t>(s.end())), r.scope_);
    if (!hit) return undo(hit.status());
    step.seqs[i] = {s.id, *hit, s.end() - *hit, {}};
    if (*hit < s.start) {
      return undo(internal_error(req_name(s.id) + ": prefix hit of " + std::to_string(*hit) +
                                 " tokens, planned " + std::to_string(s.start)));
    }
  }
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    if (s.is_new_admission) continue;
    const SchedRequest& r = *find(s.id);
    const std::span<const TokenId> tokens =
        r.all_tokens().subspan(static_cast<size_t>(s.start), static_cast<size_t>(s.n_new_tokens));
    Status appended = kv_->append(s.id, tokens, &step.copies);
    if (!appended.is_ok()) return undo(appended);
    step.seqs[i] = {s.id, s.start, s.n_new_tokens, {}};
  }

  // Everything is allocated: commit the admissions to running.
  for (StepSeqKv& seq : step.seqs) {
    SchedRequest& r = *find_mutable(seq.id);
    if (r.status_ == RequestStatus::kWaiting) {
      waiting_.erase(key_of(&r));
      r.status_ = RequestStatus::kRunning;
      r.n_computed_ = seq.start;
      r.n_cached_at_admission_ = seq.start;
      ++stats_.n_admissions;
      stats_.n_prefix_hit_tokens += seq.start;
    }
    stats_.n_tokens_scheduled += seq.n_new_tokens;
    seq.blocks = kv_->table(seq.id)->blocks();
  }
  merge_admitted(plan);
  ++stats_.n_steps;
  in_flight_ = true;
  in_flight_version_ = plan.state_version;
  return step;
}

Status Scheduler::check_sampled(const StepPlan& plan, std::span<const SampledToken> sampled) {
  size_t n_sampling = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    if (n_sampling == sampled.size() || sampled[n_sampling].id != s.id) {
      return invalid_argument("sched: a step's tokens must name " + req_name(s.id) +
                              " (sampling seqs in plan order)");
    }
    if (sampled[n_sampling].token < 0) return invalid_argument("sched: a sampled token is negative");
    ++n_sampling;
  }
  if (n_sampling != sampled.size()) return invalid_argument("sched: a step got tokens for no seq");
  return Status::ok();
}

Status Scheduler::commit_step(const StepPlan& plan, std::span<const SampledToken> sampled) {
  if (!in_flight_ || plan.state_version != in_flight_version_) {
    return invalid_argument("sched: commit_step of a plan that is not in flight");
  }
  if (!unresolved_.empty()) return invalid_argument("sched: commit_step with an earlier step unresolved");
  AUTOGLM_RETURN_IF_ERROR(check_sampled(plan, sampled));
  AUTOGLM_RETURN_IF_ERROR(advance_step(plan));
  resolve_checked(plan, sampled);
  return Status::ok();
}

Status Scheduler::advance_step(const StepPlan& plan) {
  if (!in_flight_ || plan.state_version != in_flight_version_) {
    return invalid_argument("sched: advance_step of a plan that is not in flight");
  }
  for (const ScheduledSeq& s : plan.seqs) {
    SchedRequest* r = find_mutable(s.id);
    if (r == nullptr || r->status_ != RequestStatus::kRunning) continue;  // finished while the step ran
    r->n_computed_ = s.end();
    if (!s.samples) continue;
    r->tokens_.push_back(kPendingToken);
    ++r->n_pending_tokens_;
  }
  in_flight_ = false;
  unresolved_.push_back(plan.state_version);
  ++version_;
  return Status::ok();
}

Status Scheduler::resolve_step(const StepPlan& plan, std::span<const SampledToken> sampled) {
  if (unresolved_.empty() || unresolved_.front() != plan.state_version) {
    return invalid_argument("sched: resolve_step of a plan that is not the oldest unresolved step");
  }
  AUTOGLM_RETURN_IF_ERROR(check_sampled(plan, sampled));
  resolve_checked(plan, sampled);
  return Status::ok();
}

void Scheduler::resolve_checked(const StepPlan& plan, std::span<const SampledToken> sampled) {
  bool any_finished = false;
  const SampledToken* token = sampled.data();
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    const SampledToken& t = *token++;
    SchedRequest* r = find_mutable(s.id);
    // Finished (or released) meanwhile: the step's token for it is dropped.
    if (r == nullptr || r->status_ == RequestStatus::kFinished) continue;
    const int32_t index = s.end();
    if (index >= r->n_tokens() || r->tokens_[static_cast<size_t>(index)] != kPendingToken) continue;
    r->tokens_[static_cast<size_t>(index)] = t.token;
    --r->n_pending_tokens_;
    const BlockTable* table = kv_->table(r->id_);
    if (r->status_ == RequestStatus::kRunning && table != nullptr && table->n_tokens() > index) {
      [[maybe_unused]] Status keyed = kv_->resolve(r->id_, index, t.token);  // a later step holds it
      assert(keyed.is_ok());
    }
    SchedFinishReason reason = SchedFinishReason::kNone;
    if (t.finished) {
      reason = SchedFinishReason::kStop;
    } else if (index + 1 - r->n_prompt_tokens_ >= r->max_tokens_ || index + 1 >= options_.max_model_len) {
      reason = SchedFinishReason::kLength;
    }
    if (reason == SchedFinishReason::kNone) continue;
    r->tokens_.resize(static_cast<size_t>(index) + 1);  // a later step's token for it is dropped
    r->n_pending_tokens_ = 0;
    if (r->status_ == RequestStatus::kRunning) {
      finish_running(*r, reason);
      any_finished = true;
    } else {
      waiting_.erase(key_of(r));  // preempted while its token was pending
      mark_finished(*r, reason);
    }
  }
  if (any_finished) compact_running();
  unresolved_.pop_front();
  ++version_;
}

Expected<std::vector<SequenceId>> Scheduler::fail_step(const StepPlan& plan) {
  const bool begun = in_flight_ && plan.state_version == in_flight_version_;
  auto unresolved = std::find(unresolved_.begin(), unresolved_.end(), plan.state_version);
  if (!begun && unresolved == unresolved_.end()) {
    return invalid_argument("sched: fail_step of a plan that is neither in flight nor unresolved");
  }
  std::vector<SequenceId> failed;
  for (const ScheduledSeq& s : plan.seqs) {
    SchedRequest* r = find_mutable(s.id);
    if (r == nullptr || r->status_ == RequestStatus::kFinished) continue;
    if (r->status_ == RequestStatus::kRunning) {
      finish_running(*r, SchedFinishReason::kError);
    } else if (!begun && s.samples && r->n_tokens() > s.end() &&
               r->tokens_[static_cast<size_t>(s.end())] == kPendingToken) {
      waiting_.erase(key_of(r));  // preempted waiting for a token this step will never give
      mark_finished(*r, SchedFinishReason::kError);
    } else {
      continue;
    }
    failed.push_back(s.id);
  }
  compact_running();
  ++stats_.n_steps_failed;
  if (begun) {
    in_flight_ = false;
  } else {
    unresolved_.erase(unresolved);
  }
  ++version_;
  return failed;
}

}  // namespace autoglm

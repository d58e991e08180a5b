// AsyncEngine's state on its engine thread, shared by async_engine.cpp (API, loop, events),
// async_engine_step.cpp (one step: plan, forward, tokens, commit) and async_engine_choices.cpp (the
// sampling choices made on the device).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "autoglm/async_engine.h"
#include "core/timer.h"
#include "engine/engine_impl.h"
#include "engine/stop_strings.h"
#include "graph/executor.h"
#include "kv/kv_manager.h"
#include "model/kv_cache.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"

namespace autoglm {

// A request the engine thread serves: what the client asked, and the per-request state around the model.
struct LiveRequest {
  RequestId id = 0;
  Request request;
  RequestCallback callback;
  Sampler sampler;
  std::unique_ptr<TextStream> text;
  StopStringMatcher stops;
  std::vector<int32_t> stop_ids;
  int32_t max_tokens = 0;  // after the context limit
  std::vector<int32_t> output;
  bool started = false;            // the first event went out
  bool stopped_by_string = false;  // the text ended at a stop string: nothing held back is output
  bool finishing = false;          // its last event is pending (PendingEmit); a cancellation is too late
  // Copied from the scheduler's record before it forgets the request (finish, abort).
  int32_t n_preemptions = 0;
  int32_t cached_prompt_tokens = 0;
  Timer since_submit;
  double queue_ms = -1;  // set when a step first runs the request

  LiveRequest(RequestId id_, Request r, RequestCallback cb, std::unique_ptr<TextStream> t)
      : id(id_),
        request(std::move(r)),
        callback(std::move(cb)),
        sampler(request.sampling),
        text(std::move(t)),
        stops(request.stop_strings) {}
};

// A step's outcome for one request, handed to its client once the next step is queued (async_engine.cpp).
struct PendingEmit {
  LiveRequest* r = nullptr;
  int32_t token = 0;
  std::string text;
  bool finished = false;
  FinishReason reason = FinishReason::kLength;
  std::vector<TokenLogprobs> logprobs;
  Status error;  // the commit failed: the request ends with this error instead
};

// One tensor-parallel rank's part of the serving state (one rank without parallelism): its KV cache (its KV
// heads, the block layout every rank shares), its executor and the buffers of its device choices.
struct RankState {
  KvCache kv;  // paged: kv_blocks * block_size rows per layer
  std::unique_ptr<Executor> executor;
  // [>= rows] i32: ids chosen on the device, two buffers used in turn (the step in flight keeps its ids in
  // one, which the next step's inputs read, while that step chooses into the other).
  Tensor choice_ids[2];
  Tensor choice_params;  // [>= rows, 5] f32: sample_rows parameters
  // apply_penalties' inputs: [>= rows, 3] f32 penalties; offsets ([rows + 1]) then entries ([n, 3]), i32.
  Tensor penalty_params;
  Tensor penalty_lists;
};

// The host inputs of a step's device choices, made once for every rank.
struct DeviceChoices {
  int64_t n_rows = 0;
  bool any_drawn = false;
  bool penalized = false;
  std::vector<float> sample_params;   // [n_rows, kSampleRowsParams] when any_drawn
  std::vector<float> penalty_params;  // [n_rows, kPenaltyParams] when penalized
  std::vector<int32_t> penalty_lists;
};

// A step queued on the device whose tokens were chosen there and are still on their way to the host
// (ServeOptions::async_scheduling): the next step is planned and queued before they are read.
struct InFlightStep {
  StepPlan plan;                                   // advanced in the scheduler, not resolved
  std::unordered_map<SequenceId, int32_t> row_of;  // sampling sequence -> row of its token in `choices`
  std::vector<TensorView> choices;                 // the chosen ids on each rank's device
  std::vector<int32_t> ids;                        // their host copy, once `copy` has landed
  std::unique_ptr<PendingCopy> copy;
};

struct AsyncEngine::Impl {
  std::unique_ptr<Engine> engine;
  ServeOptions options;
  Model* model = nullptr;
  Backend* backend = nullptr;
  int64_t max_context = 0;
  std::vector<int32_t> eos_ids;

  ModelGroup* group = nullptr;   // every tensor-parallel rank's model (rank 0: model, backend)
  std::vector<RankState> ranks;  // per rank, in rank order
  std::unique_ptr<KvManager> kv_manager;
  std::optional<Scheduler> scheduler;
  int next_choice_buffer = 0;                                        // of RankState::choice_ids
  std::unordered_map<RequestId, std::unique_ptr<LiveRequest>> live;  // engine thread only
  std::vector<PendingEmit> pending;       // the last step's events, not handed out yet (engine thread only)
  std::optional<InFlightStep> in_flight;  // engine thread only
  double step_wait_ms = 0;                // this step's time waiting for the device's results

  // Hand-off between client threads and the engine thread.
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::vector<std::unique_ptr<LiveRequest>> submitted;
  std::vector<RequestId> cancelled;
  bool stopping = false;
  RequestId next_id = 1;
  EngineStats stats;  // guarded by mutex (copied out by stats())

  std::thread thread;

  void run();
  // One iteration of the step loop (async_engine_step.cpp).
  void step();
  // Reads the in-flight step's tokens and resolves it; on failure its requests fail (and the status is
  // returned so that the caller fails the step queued after it too).
  Status resolve_in_flight(int64_t* generated);
  // The step queued with `plan` (begun, or advanced) failed, and so does the step in flight before it.
  void fail_steps(const StepPlan* plan, const Status& status);
  void fail_plan(const StepPlan& plan, const Status& status);
  // Tokens of a step's sampling rows (from the device's choices, else sampled here from the logits rows),
  // with their events and stop decisions appended to `pending`; requests that ended meanwhile get a
  // dropped placeholder.
  std::vector<SampledToken> take_tokens(const StepPlan& plan, std::span<const int32_t> device_ids,
                                        std::vector<float>& logits);
  // After the scheduler took a step's tokens: events from pending[first] on carry its status.
  void settle_events(size_t first, const Status& committed);
  // Prompt tokens the step runs through the model (statistics).
  int64_t computed_prompt_tokens(const StepPlan& plan) const;
  // Hands out the pending events, in step order.
  void emit_pending();
  void admit(std::unique_ptr<LiveRequest> r);
  void finish(LiveRequest& r, FinishReason reason, std::vector<int32_t> tokens, std::string text,
              Status error, std::vector<TokenLogprobs> logprobs = {});
  void publish_stats(double host_ms, double step_ms, int64_t generated);
  // Running / waiting / KV / prefix figures from the scheduler; `mutex` held.
  void refresh_gauges_locked();
  // Step choices (async_engine_choices.cpp). Whether every sampling row of the plan can be decided where
  // the logits are, and whether any of them is penalised (penalties read the request's resolved output).
  bool choices_on_device(const StepPlan& plan) const;
  bool any_penalized(const StepPlan& plan) const;
  DeviceChoices prepare_device_choices(const StepPlan& plan);
  // The ids of a step's sampling rows chosen on one rank's device (penalties, then argmax or sample_rows)
  // into its choice buffer `buffer`; returns the [rows] view.
  Expected<TensorView> choose_on_rank(int rank, int buffer, const DeviceChoices& choices,
                                      const TensorView& logits);
  // Step by step, on rank 0: what host-side sampling needs, the chosen ids when choices_on_device, else the
  // logits rows.
  Status fetch_choices(const StepPlan& plan, const TensorView& logits, std::vector<float>* rows,
                       std::vector<int32_t>* device_ids);
  // The live request of a sampling row, or null when it ended while its step ran.
  LiveRequest* row_request(SequenceId id) const {
    auto it = live.find(id);
    return it == live.end() || it->second->finishing ? nullptr : it->second.get();
  }
  void sync_from_scheduler(LiveRequest& r) const {
    if (const SchedRequest* s = scheduler->find(r.id)) {
      r.n_preemptions = s->n_preemptions();
      r.cached_prompt_tokens = s->n_cached_at_admission();
    }
  }
  void abort(LiveRequest& r, FinishReason reason, Status error) {
    sync_from_scheduler(r);
    (void)scheduler->abort(r.id);
    finish(r, reason, {}, {}, std::move(error));
  }
};

}  // namespace autoglm

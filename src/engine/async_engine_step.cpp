// AsyncEngine: one iteration of the step loop (see async_engine.cpp for the overview).
//
// Step-by-step: plan -> begin (KV) -> queue the forward pass -> choose the tokens (on the device, or the
// logits rows to the host samplers) -> wait for them -> stop checks, events -> commit to the scheduler.
// Ahead (ServeOptions::async_scheduling, tokens chosen on the device): plan -> begin -> queue the forward
// pass, its decode inputs filled on the device from the step in flight -> queue the choices and their copy
// to the host -> advance the scheduler (pending tokens) -> read and resolve the step in flight (stop checks,
// events) -> this step is now the one in flight. A step that needs its requests' full history on the host
// (penalties, log-probabilities, host draws) resolves the step in flight first and runs step by step.
#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "engine/async_engine_impl.h"
#include "sampling/logprobs.h"

namespace autoglm {

void AsyncEngine::Impl::step() {
  Timer step_timer;
  double forward_ms = 0;
  step_wait_ms = 0;
  int64_t generated = 0;
  auto publish = [&] {
    publish_stats(step_timer.elapsed_ms() - forward_ms - step_wait_ms, step_timer.elapsed_ms(), generated);
  };
  const StepPlan plan = scheduler->schedule();
  if (plan.empty()) {
    if (in_flight) {  // what is left waits for the tokens of the step on the device
      if (Status resolved = resolve_in_flight(&generated); !resolved.is_ok()) fail_steps(nullptr, resolved);
      publish();
      return;
    }
    if (!pending.empty()) {  // the last step's events (its requests may all have finished)
      emit_pending();
      return;
    }
    // Nothing can run (the scheduler admits any request that fits the pool alone, so this is transient).
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return;
  }
  for (const ScheduledSeq& s : plan.seqs) {
    auto it = live.find(s.id);
    if (it != live.end() && it->second->queue_ms < 0)
      it->second->queue_ms = it->second->since_submit.elapsed_ms();
  }
  Expected<StepKv> kv = scheduler->begin_step(plan);
  Status status = kv.status();
  // Every rank's logits of the step (identical: gathered by columns), and its device choices when the step
  // runs ahead.
  std::vector<TensorView> logits(ranks.size());
  std::vector<TensorView> choices(ranks.size());
  bool ran = false;
  bool ahead = false;
  bool has_rows = false;
  // Decode inputs whose token the step in flight chose on the device: -1 - (its row there).
  std::vector<int32_t> pending_inputs(plan.seqs.size());
  if (status.is_ok()) {
    std::vector<SequenceSlice> slices;
    slices.reserve(plan.seqs.size());
    for (size_t i = 0; i < plan.seqs.size() && status.is_ok(); ++i) {
      const StepSeqKv& seq = kv->seqs[i];
      SequenceSlice slice;
      slice.tokens = scheduler->find(seq.id)->all_tokens().subspan(static_cast<size_t>(seq.start),
                                                                   static_cast<size_t>(seq.n_new_tokens));
      if (std::find(slice.tokens.begin(), slice.tokens.end(), kPendingToken) != slice.tokens.end()) {
        // Only the last token of a sequence is pending, and only the step in flight left one.
        int32_t row = -1;
        if (in_flight) {
          auto it = in_flight->row_of.find(seq.id);
          if (it != in_flight->row_of.end()) row = it->second;
        }
        if (row < 0 || slice.tokens.size() != 1) {
          status = internal_error("engine: a pending token that no step in flight chose");
          break;
        }
        pending_inputs[i] = -1 - row;
        slice.tokens = std::span<const int32_t>(&pending_inputs[i], 1);
      }
      slice.start = seq.start;
      slice.blocks = seq.blocks;
      slice.want_logits = plan.seqs[i].samples;
      has_rows = has_rows || slice.want_logits;
      slices.push_back(slice);
    }
    ran = status.is_ok() && !slices.empty();  // a plan of preemptions alone runs nothing
    has_rows = has_rows && ran;
    ahead = options.async_scheduling && (!has_rows || (choices_on_device(plan) && !any_penalized(plan)));
    // Ahead, every rank chooses (the next step's pending inputs are read on each rank's device).
    std::optional<DeviceChoices> device_choices;
    const int buffer = next_choice_buffer;
    if (ahead && has_rows) {
      device_choices = prepare_device_choices(plan);
      next_choice_buffer ^= 1;
    }
    Timer forward_timer;
    if (status.is_ok()) {
      status = group->run([&](int r) -> Status {
        RankState& rank = ranks[static_cast<size_t>(r)];
        Backend& b = group->backend(r);
        // Copy-on-write copies first: every layer's K and V rows of the source block into the destination.
        const int64_t bs = options.kv_block_size;
        for (const BlockCopy& copy : kv->copies) {
          for (size_t l = 0; l < rank.kv.k.size(); ++l) {
            for (Tensor* t : {&rank.kv.k[l], &rank.kv.v[l]}) {
              const TensorView all = t->view();
              AUTOGLM_RETURN_IF_ERROR(b.copy(all.rows(int64_t{copy.dst} * bs, int64_t{copy.dst + 1} * bs),
                                             all.rows(int64_t{copy.src} * bs, int64_t{copy.src + 1} * bs)));
            }
          }
        }
        if (!ran) return Status::ok();
        // Decode-only steps replay a recording per batch-size bucket (launches cost more than the work at
        // small batches); steps with prompt tokens run op by op.
        const Model& m = group->model(r);
        const int32_t pad_block = kv_manager->pool().n_blocks_total();
        const int64_t table_width = (max_context + bs - 1) / bs;
        const TensorView pending = in_flight && !in_flight->choices.empty()
                                       ? in_flight->choices[static_cast<size_t>(r)]
                                       : TensorView{};
        Expected<TensorView> out = options.use_graphs
                                       ? m.forward_decode_batch_replayed(*rank.executor, rank.kv, bs, slices,
                                                                         pad_block, table_width, pending)
                                       : m.forward_batch(*rank.executor, rank.kv, bs, slices, pending);
        if (!out) return out.status();
        logits[static_cast<size_t>(r)] = *out;
        if (!device_choices) return Status::ok();
        AUTOGLM_ASSIGN_OR_RETURN(choices[static_cast<size_t>(r)],
                                 choose_on_rank(r, buffer, *device_choices, *out));
        return Status::ok();
      });
    }
    forward_ms = forward_timer.elapsed_ms();
  }
  emit_pending();  // the GPU runs this step meanwhile
  if (!status.is_ok()) {
    fail_steps(&plan, status);
    publish();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    stats.computed_prompt_tokens += computed_prompt_tokens(plan);
  }
  if (ahead) {
    InFlightStep next;
    next.plan = plan;
    if (has_rows) {
      next.choices = choices;
      next.ids.resize(static_cast<size_t>(choices[0].numel()));
      Expected<std::unique_ptr<PendingCopy>> copy = backend->copy_to_host_async(
          TensorView{next.ids.data(), DType::kI32, choices[0].shape, Device{}}, choices[0]);
      if (copy.has_value()) next.copy = std::move(copy).value();
      status = copy.status();
    }
    if (status.is_ok()) status = scheduler->advance_step(plan);
    if (!status.is_ok()) {
      fail_steps(&plan, status);
      publish();
      return;
    }
    int32_t row = 0;
    for (const ScheduledSeq& s : plan.seqs)
      if (s.samples) next.row_of.emplace(s.id, row++);
    if (in_flight) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++stats.n_steps_ahead;
      }
      // The GPU computes this step while the host reads and resolves the one before.
      if (Status resolved = resolve_in_flight(&generated); !resolved.is_ok()) {
        in_flight = std::move(next);
        fail_steps(nullptr, resolved);
        publish();
        return;
      }
    }
    in_flight = std::move(next);
    publish();
    return;
  }

  // Step by step: the step in flight (if any) resolves first, so this one's choices see every token.
  if (in_flight) {
    if (Status resolved = resolve_in_flight(&generated); !resolved.is_ok()) {
      fail_steps(&plan, resolved);
      publish();
      return;
    }
  }
  std::vector<float> rows;
  std::vector<int32_t> device_ids;  // when every choice of the step was made on the device
  if (has_rows) {
    Timer wait_timer;
    status = fetch_choices(plan, logits[0], &rows, &device_ids);
    step_wait_ms += wait_timer.elapsed_ms();
  }
  if (!status.is_ok()) {
    fail_steps(&plan, status);
    publish();
    return;
  }
  const size_t first = pending.size();
  const std::vector<SampledToken> sampled = take_tokens(plan, device_ids, rows);
  generated += static_cast<int64_t>(pending.size() - first);
  settle_events(first, scheduler->commit_step(plan, sampled));
  if (!options.overlap_output) emit_pending();
  publish();
}

Status AsyncEngine::Impl::resolve_in_flight(int64_t* generated) {
  InFlightStep step = std::move(*in_flight);
  in_flight.reset();
  Timer wait_timer;
  Status landed = step.copy ? step.copy->wait() : Status::ok();  // no copy: a step without sampling rows
  step_wait_ms += wait_timer.elapsed_ms();
  if (!landed.is_ok()) {
    emit_pending();
    fail_plan(step.plan, landed);
    return landed;
  }
  const size_t first = pending.size();
  std::vector<float> no_rows;
  const std::vector<SampledToken> sampled = take_tokens(step.plan, step.ids, no_rows);
  *generated += static_cast<int64_t>(pending.size() - first);
  settle_events(first, scheduler->resolve_step(step.plan, sampled));
  emit_pending();  // the GPU computes the next step meanwhile
  return Status::ok();
}

void AsyncEngine::Impl::fail_steps(const StepPlan* plan, const Status& status) {
  emit_pending();
  if (in_flight) {
    InFlightStep older = std::move(*in_flight);
    in_flight.reset();
    fail_plan(older.plan, status);
  }
  if (plan != nullptr) fail_plan(*plan, status);
}

void AsyncEngine::Impl::fail_plan(const StepPlan& plan, const Status& status) {
  for (const ScheduledSeq& s : plan.seqs) {
    auto it = live.find(s.id);
    if (it != live.end()) sync_from_scheduler(*it->second);
  }
  Expected<std::vector<SequenceId>> failed = scheduler->fail_step(plan);
  for (SequenceId id : failed.has_value() ? *failed : std::vector<SequenceId>{}) {
    auto it = live.find(id);
    if (it != live.end()) finish(*it->second, FinishReason::kStop, {}, {}, status);
  }
}

std::vector<SampledToken> AsyncEngine::Impl::take_tokens(const StepPlan& plan,
                                                         std::span<const int32_t> device_ids,
                                                         std::vector<float>& logits) {
  const int64_t vocab = model->config().vocab_size;
  const size_t first = pending.size();
  std::vector<SampledToken> sampled;
  int64_t row = -1;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    ++row;
    LiveRequest* live_request = row_request(s.id);
    if (live_request == nullptr) {  // ended while the step ran: the scheduler drops this token
      sampled.push_back(SampledToken{s.id, 0, true});
      continue;
    }
    LiveRequest& r = *live_request;
    std::span<float> logits_row =
        device_ids.empty() ? std::span<float>(logits.data() + row * vocab, static_cast<size_t>(vocab))
                           : std::span<float>();
    // Log-probabilities come from the raw row: kept before the sampler rewrites it.
    const bool wants_logprobs = r.request.logprobs >= 0;
    const std::vector<float> raw_row =
        wants_logprobs ? std::vector<float>(logits_row.begin(), logits_row.end()) : std::vector<float>();
    const int32_t token = device_ids.empty() ? r.sampler.sample(logits_row, r.request.prompt, r.output)
                                             : device_ids[static_cast<size_t>(row)];
    r.output.push_back(token);
    PendingEmit& e = pending.emplace_back();
    e.r = &r;
    e.token = token;
    if (wants_logprobs) e.logprobs.push_back(token_logprobs(raw_row, token, r.request.logprobs));
    if (r.text) {
      std::string piece = r.text->push(token);
      if (!r.stops.empty()) {
        bool stopped = false;
        piece = r.stops.push(piece, &stopped);
        if (stopped) {
          r.stopped_by_string = true;
          e.finished = true;
          e.reason = FinishReason::kStop;
        }
      }
      if (r.request.detokenize) e.text = std::move(piece);
    }
    if (!e.finished && std::find(r.stop_ids.begin(), r.stop_ids.end(), token) != r.stop_ids.end()) {
      e.finished = true;
      e.reason = FinishReason::kStop;
    }
    if (!e.finished && static_cast<int32_t>(r.output.size()) >= r.max_tokens) {
      e.finished = true;
      e.reason = FinishReason::kLength;
    }
    sampled.push_back(SampledToken{s.id, token, e.finished});
  }
  for (size_t i = first; i < pending.size(); ++i)
    sync_from_scheduler(*pending[i].r);  // the commit forgets the finished ones
  return sampled;
}

// A finishing request takes no more tokens: a later step's row for it (scheduled ahead) is dropped.
void AsyncEngine::Impl::settle_events(size_t first, const Status& committed) {
  for (size_t i = first; i < pending.size(); ++i) {
    PendingEmit& e = pending[i];
    e.error = committed;
    e.r->finishing = e.finished || !committed.is_ok();
  }
}

int64_t AsyncEngine::Impl::computed_prompt_tokens(const StepPlan& plan) const {
  int64_t computed = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    auto it = live.find(s.id);
    const int64_t n_prompt = it == live.end() ? 0 : static_cast<int64_t>(it->second->request.prompt.size());
    computed += std::max<int64_t>(0, std::min<int64_t>(s.start + s.n_new_tokens, n_prompt) - s.start);
  }
  return computed;
}

}  // namespace autoglm

// AsyncEngine: the serving step loop on its own thread.
//
// One iteration: take new submissions and cancellations -> schedule (a pure plan, sched/) -> begin the step
// (KV blocks allocated, copy-on-write copies run) -> one batched forward over the paged cache -> logits rows
// to the host -> sample each request with its own sampler -> stop checks (ids, strings, length) -> commit the
// step to the scheduler -> emit events. A failed forward fails the requests of that step (their KV is freed
// and the prefix index forgets nothing it had not computed, see Scheduler::fail_step) and the loop goes on.
//
// Host/GPU overlap (async_engine_step.cpp):
//  * Scheduling ahead (ServeOptions::async_scheduling): when a step's tokens are chosen on the device
//    (greedy, or seeded draws without penalties or log-probabilities), the step is advanced in the scheduler
//    with pending tokens and its ids start back to the host; the loop then plans, builds and queues step
//    N + 1, whose decode inputs are taken from step N's ids on the device, and only then reads step N's
//    tokens (stop checks, events, the scheduler's resolve). So the host work between two steps runs while the
//    GPU computes, and the GPU never waits for it. A request that stops at step N has a row in step N + 1
//    that is dropped. Results are those of the step-by-step order.
//  * Events: the events of a step (building them, the clients' callbacks, finishing requests and their
//    records) are handed out while the GPU runs the next step, not between the steps where the GPU would
//    wait for them. Pending events go out before anything that could reorder them: a cancellation,
//    shutdown, an idle engine.
#include "autoglm/async_engine.h"

#include <algorithm>
#include <optional>

#include "engine/async_engine_impl.h"
#include "engine/request_stream.h"
#include "engine/warm_up.h"

namespace autoglm {
namespace {

int32_t default_kv_blocks(const Backend& backend, const ModelConfig& c, DType kv_dtype, int64_t max_context,
                          const ServeOptions& o) {
  const size_t bytes_per_block = 2 * static_cast<size_t>(c.num_hidden_layers) * c.num_key_value_heads *
                                 c.head_dim * dtype_size(kv_dtype) * o.kv_block_size;
  const int64_t blocks_per_seq = (max_context + o.kv_block_size - 1) / o.kv_block_size;
  const size_t free_bytes = backend.free_memory();
  int64_t blocks = 0;
  if (free_bytes > 0) {
    blocks = static_cast<int64_t>(static_cast<double>(free_bytes) * o.kv_memory_fraction) /
             static_cast<int64_t>(bytes_per_block);
  } else {
    // Host memory: enough for every sequence at full context, within 4 GiB.
    constexpr size_t kHostBudget = size_t{4} << 30;
    blocks = std::min<int64_t>(blocks_per_seq * o.max_num_seqs,
                               static_cast<int64_t>(kHostBudget / bytes_per_block));
  }
  blocks = std::max<int64_t>(blocks, blocks_per_seq + 1);
  return static_cast<int32_t>(std::min<int64_t>(blocks, int64_t{1} << 30));
}

Expected<DType> kv_cache_dtype(const std::string& name, const Model& model) {
  if (name == "auto") return model.kv_dtype();
  const std::optional<DType> dtype = parse_dtype(name);
  if (!dtype || (*dtype != DType::kF32 && *dtype != DType::kBF16 && *dtype != DType::kF16 &&
                 *dtype != DType::kF8E4M3)) {
    return invalid_argument("kv_cache_dtype '" + name + "': expected auto, f32, bf16, f16 or fp8");
  }
  return *dtype;
}

}  // namespace

AsyncEngine::AsyncEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AsyncEngine::~AsyncEngine() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const Engine& AsyncEngine::engine() const {
  return *impl_->engine;
}

Status AsyncEngine::create(const EngineOptions& engine_options, const ServeOptions& serve_options,
                           std::unique_ptr<AsyncEngine>* out) {
  const ServeOptions& o = serve_options;
  if (o.kv_block_size <= 0 || o.kv_block_size > 1024)
    return invalid_argument("kv_block_size must be in [1, 1024]");
  if (o.max_num_seqs <= 0) return invalid_argument("max_num_seqs must be positive");
  if (o.max_num_batched_tokens <= 0) return invalid_argument("max_num_batched_tokens must be positive");
  if (o.kv_blocks < 0) return invalid_argument("kv_blocks must be >= 0");
  if (o.nano_batch_min_decodes < 1 || o.nano_batch_min_prompt_rows < 1 || o.nano_batch_gemm_sms < 0 ||
      o.nano_batch_decode_gemm_sms < 0)
    return invalid_argument("nano_batch limits must be positive (gemm SMs >= 0)");
  if (!(o.kv_memory_fraction > 0 && o.kv_memory_fraction <= 1))
    return invalid_argument("kv_memory_fraction must be in (0, 1]");

  auto impl = std::make_unique<Impl>();
  impl->options = o;
  AUTOGLM_RETURN_IF_ERROR(Engine::create(engine_options, &impl->engine));
  Engine::Impl& e = *impl->engine->impl_;
  impl->group = e.ranks.get();
  impl->model = e.model;
  impl->backend = e.backend;
  impl->max_context = e.max_context;
  impl->eos_ids = impl->model->eos_token_ids();
  if (!o.enable_chunked_prefill && o.max_num_batched_tokens < impl->max_context) {
    return invalid_argument("without chunked prefill, max_num_batched_tokens (" +
                            std::to_string(o.max_num_batched_tokens) + ") must cover the context (" +
                            std::to_string(impl->max_context) + ")");
  }

  AUTOGLM_ASSIGN_OR_RETURN(const DType kv_dtype, kv_cache_dtype(o.kv_cache_dtype, *impl->model));
  const int32_t n_blocks = o.kv_blocks > 0 ? o.kv_blocks
                                           : default_kv_blocks(*impl->backend, impl->model->local_config(),
                                                               kv_dtype, impl->max_context, o);
  NanoBatchOptions nano;
  nano.enabled = o.nano_batch;
  nano.min_decode_seqs = o.nano_batch_min_decodes;
  nano.min_prompt_rows = o.nano_batch_min_prompt_rows;
  nano.prompt_gemm_sms = o.nano_batch_gemm_sms;
  nano.decode_gemm_sms = o.nano_batch_decode_gemm_sms;
  ModelGroup& group = *impl->group;
  impl->ranks.resize(static_cast<size_t>(group.world()));
  for (int r = 0; r < group.world(); ++r) {
    RankState& rank = impl->ranks[static_cast<size_t>(r)];
    const Model& m = group.model(r);
    // One block more than the KV manager hands out: the padding rows of recorded decode batches write there.
    AUTOGLM_ASSIGN_OR_RETURN(rank.kv, KvCache::create(group.backend(r), m.local_config(),
                                                      int64_t{n_blocks + 1} * o.kv_block_size, kv_dtype));
    rank.executor = std::make_unique<Executor>(group.backend(r));
    group.model(r).set_nano_batch(nano);
  }
  KvManagerOptions kv_options;
  kv_options.n_blocks = n_blocks;
  kv_options.block_size = o.kv_block_size;
  kv_options.enable_prefix_caching = o.enable_prefix_caching;
  AUTOGLM_ASSIGN_OR_RETURN(KvManager manager, KvManager::create(kv_options));
  impl->kv_manager = std::make_unique<KvManager>(std::move(manager));
  SchedulerOptions sched_options;
  sched_options.max_num_seqs = o.max_num_seqs;
  sched_options.max_num_batched_tokens = o.max_num_batched_tokens;
  sched_options.enable_chunked_prefill = o.enable_chunked_prefill;
  sched_options.max_model_len = static_cast<int32_t>(impl->max_context);
  AUTOGLM_ASSIGN_OR_RETURN(Scheduler scheduler, Scheduler::create(sched_options, *impl->kv_manager));
  impl->scheduler.emplace(std::move(scheduler));
  impl->stats.kv_blocks_total = n_blocks;
  impl->stats.kv_block_size = o.kv_block_size;
  impl->stats.kv_cache_dtype = std::string(dtype_name(kv_dtype));
  WarmUpLimits warm_up;
  warm_up.max_seqs = o.max_num_seqs;
  warm_up.max_context = impl->max_context;
  warm_up.block_size = o.kv_block_size;
  warm_up.n_blocks = n_blocks;
  const std::vector<int64_t> warm_up_rows = impl->backend->warm_up_rows(o.max_num_batched_tokens);
  AUTOGLM_RETURN_IF_ERROR(group.run([&](int r) {
    RankState& rank = impl->ranks[static_cast<size_t>(r)];
    return warm_up_step_sizes(group.model(r), *rank.executor, rank.kv, group.backend(r), warm_up_rows,
                              warm_up)
        .status();
  }));
  for (RankState& rank : impl->ranks)
    rank.executor->set_profiling(o.profile_ops);  // the warm-up is not part of the profile

  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  out->reset(new AsyncEngine(std::move(impl)));
  return Status::ok();
}

Status AsyncEngine::submit(Request request, RequestCallback callback, RequestId* id) {
  Impl& m = *impl_;
  const ModelConfig& c = m.model->config();
  if (request.prompt.empty()) return invalid_argument("the prompt is empty");
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= c.vocab_size) {
      return invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    }
  }
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt + 1 > m.max_context) {
    return invalid_argument("the prompt has " + std::to_string(n_prompt) +
                            " tokens; with one to generate that exceeds the context of " +
                            std::to_string(m.max_context));
  }
  if (request.max_tokens < 1) return invalid_argument("max_tokens must be >= 1");
  if (request.logprobs > c.vocab_size) return invalid_argument("logprobs exceeds the vocabulary size");
  const Engine::Impl& e = *m.engine->impl_;
  std::unique_ptr<TextStream> text;
  if (e.tokenizer && (request.detokenize || !request.stop_strings.empty()))
    text = m.engine->open_text_stream(request.skip_special_tokens, request.prompt);
  if (!request.stop_strings.empty() && !text)
    return invalid_argument("stop strings need the model's tokenizer");
  if (!callback) return invalid_argument("submit: no callback");

  std::lock_guard<std::mutex> lock(m.mutex);
  if (m.stopping) return resource_exhausted("the engine is shutting down");
  *id = m.next_id++;
  auto r = std::make_unique<LiveRequest>(*id, std::move(request), std::move(callback), std::move(text));
  r->max_tokens = static_cast<int32_t>(std::min<int64_t>(r->request.max_tokens, m.max_context - n_prompt));
  r->stop_ids = r->request.stop_token_ids;
  if (!r->request.ignore_eos) r->stop_ids.insert(r->stop_ids.end(), m.eos_ids.begin(), m.eos_ids.end());
  m.submitted.push_back(std::move(r));
  m.wake.notify_one();
  return Status::ok();
}

Status AsyncEngine::submit(Request request, std::unique_ptr<RequestStream>* stream) {
  auto queue = std::make_shared<EventQueue>();
  RequestId id = 0;
  AUTOGLM_RETURN_IF_ERROR(submit(
      std::move(request), [queue](const RequestEvent& e) { queue->push(e); }, &id));
  *stream = make_request_stream(id, queue);
  return Status::ok();
}

void AsyncEngine::cancel(RequestId id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->cancelled.push_back(id);
  }
  impl_->wake.notify_one();
}

EngineStats AsyncEngine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

void AsyncEngine::Impl::run() {
  (void)backend->make_current();  // rank 0's device: its steps are queued from this thread
  for (;;) {
    std::vector<std::unique_ptr<LiveRequest>> incoming;
    std::vector<RequestId> cancels;
    bool stop = false;
    {
      // Pending events keep their requests live, so the loop reaches step(), which hands them out.
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] {
        return stopping || !submitted.empty() || !cancelled.empty() || !live.empty() || in_flight.has_value();
      });
      incoming.swap(submitted);
      cancels.swap(cancelled);
      stop = stopping;
    }
    if (!cancels.empty() || stop) emit_pending();  // a cancellation's event must follow the tokens before it
    for (auto& r : incoming)
      admit(std::move(r));
    for (RequestId id : cancels) {
      auto it = live.find(id);
      if (it != live.end() && !it->second->finishing)
        abort(*it->second, FinishReason::kCancelled, Status::ok());
    }
    if (stop) {
      while (!live.empty()) {
        abort(*live.begin()->second, FinishReason::kCancelled, Status::ok());
      }
      in_flight.reset();  // waits for its copy; its requests are gone
      return;
    }
    if (!live.empty() || in_flight) step();
  }
}

void AsyncEngine::Impl::admit(std::unique_ptr<LiveRequest> r) {
  Status added = scheduler->add(SchedRequest(r->id, r->request.prompt, r->max_tokens, r->request.priority,
                                             HashScope{model->config().architecture, r->request.cache_salt}));
  if (!added.is_ok()) {
    LiveRequest& ref = *r;
    const RequestId id = r->id;
    live.emplace(id, std::move(r));
    finish(ref, FinishReason::kStop, {}, {}, added);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    stats.prompt_tokens += static_cast<int64_t>(r->request.prompt.size());
  }
  live.emplace(r->id, std::move(r));
}

void AsyncEngine::Impl::finish(LiveRequest& r, FinishReason reason, std::vector<int32_t> tokens,
                               std::string text, Status error, std::vector<TokenLogprobs> logprobs) {
  RequestEvent event;
  event.id = r.id;
  event.tokens = std::move(tokens);
  event.logprobs = std::move(logprobs);
  event.text = std::move(text);
  if (error.is_ok() && r.text && !r.stopped_by_string && r.request.detokenize) {
    // Whatever the decoders still hold (an incomplete character, text that looked like a stop string).
    std::string tail = r.text->finish();
    if (!r.stops.empty()) {
      bool stopped = false;
      tail = r.stops.push(tail, &stopped);
      if (!stopped) tail += r.stops.finish();
    }
    event.text += tail;
  }
  event.finished = true;
  event.finish_reason = reason;
  event.error = std::move(error);
  event.prompt_tokens = static_cast<int32_t>(r.request.prompt.size());
  event.n_preemptions = r.n_preemptions;
  if (!r.started) {
    event.cached_prompt_tokens = r.cached_prompt_tokens;
    event.queue_ms = std::max(0.0, r.queue_ms >= 0 ? r.queue_ms : r.since_submit.elapsed_ms());
  }
  (void)scheduler->release(r.id);  // its record, finished by now (or never added)
  {
    // Before the callback: a client that saw its request finish sees the engine's figures include it.
    std::lock_guard<std::mutex> lock(mutex);
    ++stats.n_finished;
    refresh_gauges_locked();
  }
  const RequestId id = r.id;
  r.callback(event);
  live.erase(id);
}

void AsyncEngine::Impl::emit_pending() {
  std::vector<PendingEmit> events;
  events.swap(pending);
  for (PendingEmit& e : events) {
    LiveRequest& r = *e.r;
    if (!e.error.is_ok()) {
      finish(r, FinishReason::kStop, {}, {}, std::move(e.error));
      continue;
    }
    if (e.finished) {
      finish(r, e.reason, {e.token}, std::move(e.text), Status::ok(), std::move(e.logprobs));
      continue;
    }
    RequestEvent event;
    event.id = r.id;
    event.tokens = {e.token};
    event.text = std::move(e.text);
    event.logprobs = std::move(e.logprobs);
    if (!r.started) {
      r.started = true;
      event.prompt_tokens = static_cast<int32_t>(r.request.prompt.size());
      event.cached_prompt_tokens = r.cached_prompt_tokens;
      event.queue_ms = std::max(0.0, r.queue_ms);
    }
    r.callback(event);
  }
}

void AsyncEngine::Impl::refresh_gauges_locked() {
  const KvStats kv_stats = kv_manager->stats();
  stats.n_running = scheduler->n_running();
  stats.n_waiting = scheduler->n_waiting();
  stats.n_preemptions = scheduler->stats().n_preemptions;
  stats.n_split_steps = model->split_steps();
  stats.prefix_queries = kv_stats.n_query_tokens;
  stats.prefix_hits = kv_stats.n_hit_tokens;
  stats.kv_blocks_used = kv_manager->pool().n_blocks_used();
}

void AsyncEngine::Impl::publish_stats(double host_ms, double step_ms, int64_t generated) {
  const int64_t unfilled =
      kv_manager->n_unfilled_slots();  // O(live sequences): outside the lock readers take
  std::lock_guard<std::mutex> lock(mutex);
  refresh_gauges_locked();
  ++stats.n_steps;
  stats.kv_slots_held += int64_t{stats.kv_blocks_used} * kv_manager->block_size();
  stats.kv_slots_unfilled += unfilled;
  stats.generated_tokens += generated;
  stats.host_ms += host_ms;
  stats.wait_ms += step_wait_ms;
  stats.step_ms += step_ms;
  if (options.profile_ops) {
    const ExecutorStats& e = ranks[0].executor->stats();
    stats.op_times.clear();
    for (size_t k = 0; k < kOpKindCount; ++k) {
      if (e.op_calls[k] > 0)
        stats.op_times.push_back(OpTime{op_kind_name(static_cast<OpKind>(k)), e.op_ms[k], e.op_calls[k]});
    }
  }
}

}  // namespace autoglm

// AsyncEngine: the serving step loop on its own thread.
//
// One iteration: take new submissions and cancellations -> schedule (a pure plan, sched/) -> begin the step
// (KV blocks allocated, copy-on-write copies run) -> one batched forward over the paged cache -> logits rows
// to the host -> sample each request with its own sampler -> stop checks (ids, strings, length) -> commit the
// step to the scheduler -> emit events. A failed forward fails the requests of that step (their KV is freed
// and the prefix index forgets nothing it had not computed, see Scheduler::fail_step) and the loop goes on.
//
// Host/GPU overlap: the events of step N (building them, the clients' callbacks, finishing requests and
// their records) are handed out while the GPU runs step N + 1, right after its kernels are queued, and not
// between the steps where the GPU would wait for them. Step N + 1 is planned from step N's committed state,
// so this changes no result, only when a client sees its tokens (one launch of step N + 1 later). Pending
// events go out before anything that could reorder them: a cancellation, shutdown, an idle engine.
#include "autoglm/async_engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/timer.h"
#include "engine/engine_impl.h"
#include "engine/request_stream.h"
#include "engine/stop_strings.h"
#include "engine/warm_up.h"
#include "graph/executor.h"
#include "kv/kv_manager.h"
#include "model/kv_cache.h"
#include "ops/apply_penalties.h"
#include "ops/argmax.h"
#include "ops/sample_rows.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"

namespace autoglm {
namespace {

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

}  // namespace

// A step's outcome for one request, handed to its client after the next step is queued (see the top).
struct PendingEmit {
  LiveRequest* r = nullptr;
  int32_t token = 0;
  std::string text;
  bool finished = false;
  FinishReason reason = FinishReason::kLength;
  std::vector<TokenLogprobs> logprobs;
  Status error;  // the commit failed: the request ends with this error instead
};

struct AsyncEngine::Impl {
  std::unique_ptr<Engine> engine;
  ServeOptions options;
  Model* model = nullptr;
  Backend* backend = nullptr;
  int64_t max_context = 0;
  std::vector<int32_t> eos_ids;

  KvCache kv;  // paged: kv_blocks * block_size rows per layer
  std::unique_ptr<KvManager> kv_manager;
  std::optional<Scheduler> scheduler;
  std::unique_ptr<Executor> executor;
  Tensor choice_ids;     // [>= rows] i32: ids chosen on the device
  Tensor choice_params;  // [>= rows, 5] f32: sample_rows parameters
  // apply_penalties' inputs: [>= rows, 3] f32 penalties; offsets ([rows + 1]) then entries ([n, 3]), i32.
  Tensor penalty_params;
  Tensor penalty_lists;
  std::unordered_map<RequestId, std::unique_ptr<LiveRequest>> live;  // engine thread only
  std::vector<PendingEmit> pending;  // the last step's events, not handed out yet (engine thread only)

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
  void step();
  // Hands out the pending events, in step order.
  void emit_pending();
  void admit(std::unique_ptr<LiveRequest> r);
  void finish(LiveRequest& r, FinishReason reason, std::vector<int32_t> tokens, std::string text,
              Status error, std::vector<TokenLogprobs> logprobs = {});
  void publish_stats(double host_ms, double step_ms, int64_t generated);
  // Running / waiting / KV / prefix figures from the scheduler; `mutex` held.
  void refresh_gauges_locked();
  Status fetch_choices(const StepPlan& plan, const TensorView& logits, std::vector<float>* rows,
                       std::vector<int32_t>* device_ids);
  Status penalize_on_device(const StepPlan& plan, const TensorView& logits);
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
  if (!(o.kv_memory_fraction > 0 && o.kv_memory_fraction <= 1))
    return invalid_argument("kv_memory_fraction must be in (0, 1]");

  auto impl = std::make_unique<Impl>();
  impl->options = o;
  AUTOGLM_RETURN_IF_ERROR(Engine::create(engine_options, &impl->engine));
  Engine::Impl& e = *impl->engine->impl_;
  impl->model = e.model.get();
  impl->backend = e.backend.get();
  impl->max_context = e.max_context;
  impl->eos_ids = impl->model->eos_token_ids();
  if (!o.enable_chunked_prefill && o.max_num_batched_tokens < impl->max_context) {
    return invalid_argument("without chunked prefill, max_num_batched_tokens (" +
                            std::to_string(o.max_num_batched_tokens) + ") must cover the context (" +
                            std::to_string(impl->max_context) + ")");
  }

  const int32_t n_blocks = o.kv_blocks > 0 ? o.kv_blocks
                                           : default_kv_blocks(*impl->backend, impl->model->config(),
                                                               impl->model->kv_dtype(), impl->max_context, o);
  AUTOGLM_ASSIGN_OR_RETURN(
      // One block more than the KV manager hands out: the padding rows of recorded decode batches write
      // there.
      impl->kv, KvCache::create(*impl->backend, impl->model->config(),
                                int64_t{n_blocks + 1} * o.kv_block_size, impl->model->kv_dtype()));
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
  impl->executor = std::make_unique<Executor>(*impl->backend);
  impl->stats.kv_blocks_total = n_blocks;
  WarmUpLimits warm_up;
  warm_up.max_seqs = o.max_num_seqs;
  warm_up.max_context = impl->max_context;
  warm_up.block_size = o.kv_block_size;
  warm_up.n_blocks = n_blocks;
  AUTOGLM_RETURN_IF_ERROR(warm_up_step_sizes(*impl->model, *impl->executor, impl->kv, *impl->backend,
                                             impl->backend->warm_up_rows(o.max_num_batched_tokens), warm_up)
                              .status());
  impl->executor->set_profiling(o.profile_ops);  // the warm-up is not part of the profile

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
  for (;;) {
    std::vector<std::unique_ptr<LiveRequest>> incoming;
    std::vector<RequestId> cancels;
    bool stop = false;
    {
      // Pending events keep their requests live, so the loop reaches step(), which hands them out.
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || !submitted.empty() || !cancelled.empty() || !live.empty(); });
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
      return;
    }
    if (!live.empty()) step();
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

void AsyncEngine::Impl::step() {
  Timer step_timer;
  const StepPlan plan = scheduler->schedule();
  if (plan.empty()) {
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
  std::vector<SequenceSlice> slices;
  Status status = kv.status();
  double forward_ms = 0;
  std::vector<float> logits;
  std::vector<int32_t> device_ids;  // when every choice of the step was made on the device
  int64_t vocab = model->config().vocab_size;
  if (status.is_ok()) {
    // Copy-on-write copies first: every layer's K and V rows of the source block into the destination.
    const int64_t bs = options.kv_block_size;
    for (const BlockCopy& copy : kv->copies) {
      for (size_t l = 0; l < this->kv.k.size() && status.is_ok(); ++l) {
        for (Tensor* t : {&this->kv.k[l], &this->kv.v[l]}) {
          const TensorView all = t->view();
          status = backend->copy(all.rows(int64_t{copy.dst} * bs, int64_t{copy.dst + 1} * bs),
                                 all.rows(int64_t{copy.src} * bs, int64_t{copy.src + 1} * bs));
          if (!status.is_ok()) break;
        }
      }
    }
    slices.reserve(plan.seqs.size());
    for (size_t i = 0; i < plan.seqs.size(); ++i) {
      const StepSeqKv& seq = kv->seqs[i];
      SequenceSlice slice;
      slice.tokens = scheduler->find(seq.id)->all_tokens().subspan(static_cast<size_t>(seq.start),
                                                                   static_cast<size_t>(seq.n_new_tokens));
      slice.start = seq.start;
      slice.blocks = seq.blocks;
      slice.want_logits = plan.seqs[i].samples;
      slices.push_back(slice);
    }
    if (status.is_ok() && !slices.empty()) {  // a plan of preemptions alone runs nothing
      Timer forward_timer;
      // Decode-only steps replay a recording per batch-size bucket (launches cost more than the work at small
      // batches); steps with prompt tokens run op by op.
      const int32_t pad_block = kv_manager->pool().n_blocks_total();
      const int64_t table_width = (max_context + bs - 1) / bs;
      Expected<TensorView> out =
          options.use_graphs
              ? model->forward_decode_batch_replayed(*executor, this->kv, bs, slices, pad_block, table_width)
              : model->forward_batch(*executor, this->kv, bs, slices);
      status = out.status();
      emit_pending();  // the GPU runs this step meanwhile
      if (status.is_ok() && out->shape[0] > 0) status = fetch_choices(plan, *out, &logits, &device_ids);
      forward_ms = forward_timer.elapsed_ms();
    }
  }
  emit_pending();  // no forward ran (a failed step, or preemptions alone)
  if (!status.is_ok()) {
    for (const ScheduledSeq& s : plan.seqs) {
      auto it = live.find(s.id);
      if (it != live.end()) sync_from_scheduler(*it->second);
    }
    Expected<std::vector<SequenceId>> failed = scheduler->fail_step(plan);
    for (SequenceId id : failed.has_value() ? *failed : std::vector<SequenceId>{}) {
      auto it = live.find(id);
      if (it != live.end()) finish(*it->second, FinishReason::kStop, {}, {}, status);
    }
    return;
  }

  // Sample, check the stop conditions, then commit.
  std::vector<SampledToken> sampled;
  // The step's events go straight to `pending` (handed out during the next step; emptied before this).
  int64_t row = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    LiveRequest& r = *live.at(s.id);
    std::span<float> logits_row =
        device_ids.empty() ? std::span<float>(logits.data() + row * vocab, static_cast<size_t>(vocab))
                           : std::span<float>();
    ++row;
    // Log-probabilities come from the raw row: kept before the sampler rewrites it.
    const bool wants_logprobs = r.request.logprobs >= 0;
    const std::vector<float> raw_row =
        wants_logprobs ? std::vector<float>(logits_row.begin(), logits_row.end()) : std::vector<float>();
    const int32_t token = device_ids.empty() ? r.sampler.sample(logits_row, r.request.prompt, r.output)
                                             : device_ids[static_cast<size_t>(row - 1)];
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
  for (PendingEmit& e : pending)
    sync_from_scheduler(*e.r);  // commit forgets the finished ones
  Status committed = scheduler->commit_step(plan, sampled);
  int64_t computed_prompt = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    const int64_t n_prompt =
        static_cast<int64_t>(live.count(s.id) ? live.at(s.id)->request.prompt.size() : 0);
    computed_prompt += std::max<int64_t>(0, std::min<int64_t>(s.start + s.n_new_tokens, n_prompt) - s.start);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    stats.computed_prompt_tokens += computed_prompt;
  }
  const double host_ms = step_timer.elapsed_ms() - forward_ms;
  for (PendingEmit& e : pending) {
    e.error = committed;
    e.r->finishing = e.finished || !committed.is_ok();
  }
  if (!options.overlap_output) emit_pending();
  publish_stats(host_ms, step_timer.elapsed_ms(), static_cast<int64_t>(sampled.size()));
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

// Brings back what sampling needs: the chosen ids when every request sampling this step can be decided where
// the logits are (penalties by apply_penalties, then greedy rows by argmax; on a device backend also
// temperature / top_k / top_p / min_p draws from the request's own seeded uniforms), else every logits row
// for the host samplers (logprobs; on the CPU, any draw).
Status AsyncEngine::Impl::fetch_choices(const StepPlan& plan, const TensorView& logits,
                                        std::vector<float>* rows, std::vector<int32_t>* device_ids) {
  bool any_drawn = false, any_penalized = false, host_needed = false;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    const LiveRequest& r = *live.at(s.id);
    any_drawn = any_drawn || r.request.sampling.temperature > 0;
    any_penalized = any_penalized || r.sampler.has_penalties();
    host_needed = host_needed || r.request.logprobs >= 0;
  }
  // The CPU keeps its exact host sampler for draws (HF's nucleus rule, seeded results equal to
  // Engine::generate's); its greedy choices, penalised or not, equal the host sampler's bit for bit anyway.
  if (backend->device().kind == DeviceKind::kCpu && any_drawn) host_needed = true;
  const int64_t n = logits.shape[0];
  if (host_needed) {
    rows->resize(static_cast<size_t>(logits.numel()));
    return backend->copy(TensorView{rows->data(), DType::kF32, logits.shape, Device{}}, logits);
  }
  if (!choice_ids.defined() || choice_ids.numel() < n) {
    AUTOGLM_ASSIGN_OR_RETURN(choice_ids, backend->allocate(DType::kI32, Shape{std::max<int64_t>(n, 256)}));
  }
  const TensorView ids = choice_ids.view().rows(0, n);
  // In place: the rows are read by nothing else once the choices are made.
  if (any_penalized) AUTOGLM_RETURN_IF_ERROR(penalize_on_device(plan, logits));
  if (!any_drawn) {
    AUTOGLM_RETURN_IF_ERROR(argmax(*backend, {logits, ids}));
  } else {
    std::vector<float> params;
    params.reserve(static_cast<size_t>(n * kSampleRowsParams));
    for (const ScheduledSeq& s : plan.seqs) {
      if (!s.samples) continue;
      LiveRequest& r = *live.at(s.id);
      const SamplingParams& p = r.request.sampling;
      if (!(p.temperature > 0)) {
        params.insert(params.end(), {0.0f, 1.0f, 0.0f, 0.0f, 0.0f});
        continue;
      }
      const float uniform = std::min(static_cast<float>(r.sampler.next_uniform()), 0.99999994f);
      params.insert(params.end(), {p.temperature, p.top_p, p.min_p, uniform, static_cast<float>(p.top_k)});
    }
    if (!choice_params.defined() || choice_params.shape()[0] < n) {
      AUTOGLM_ASSIGN_OR_RETURN(
          choice_params, backend->allocate(DType::kF32, Shape{std::max<int64_t>(n, 256), kSampleRowsParams}));
    }
    const TensorView device_params = choice_params.view().rows(0, n);
    AUTOGLM_RETURN_IF_ERROR(backend->copy(
        device_params, TensorView{params.data(), DType::kF32, Shape{n, kSampleRowsParams}, Device{}}));
    AUTOGLM_RETURN_IF_ERROR(sample_rows(*backend, {logits, device_params, ids}));
  }
  device_ids->resize(static_cast<size_t>(n));
  return backend->copy(TensorView{device_ids->data(), DType::kI32, Shape{n}, Device{}}, ids);
}

// The step's penalties in two uploads: each row's [repetition, presence, frequency], and one i32 list of the
// row offsets followed by every penalised row's entries, which each sampler keeps up to date as its output
// grows (Sampler::penalty_entries), so a step costs a copy of the entries, not a recount of the histories.
Status AsyncEngine::Impl::penalize_on_device(const StepPlan& plan, const TensorView& logits) {
  const int64_t n = logits.shape[0];
  std::vector<float> params;
  params.reserve(static_cast<size_t>(n * kPenaltyParams));
  std::vector<int32_t> lists(static_cast<size_t>(n + 1), 0);  // offsets, then the entries
  int64_t row = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    LiveRequest& r = *live.at(s.id);
    const SamplingParams& p = r.request.sampling;
    params.insert(params.end(), {p.repetition_penalty, p.presence_penalty, p.frequency_penalty});
    const std::span<const int32_t> entries = r.sampler.penalty_entries(r.request.prompt, r.output);
    lists.insert(lists.end(), entries.begin(), entries.end());
    lists[static_cast<size_t>(++row)] = static_cast<int32_t>((lists.size() - (n + 1)) / kPenaltyEntryFields);
  }
  const auto size = static_cast<int64_t>(lists.size());
  if (!penalty_params.defined() || penalty_params.shape()[0] < n) {
    AUTOGLM_ASSIGN_OR_RETURN(
        penalty_params, backend->allocate(DType::kF32, Shape{std::max<int64_t>(n, 256), kPenaltyParams}));
  }
  if (!penalty_lists.defined() || penalty_lists.numel() < size) {
    AUTOGLM_ASSIGN_OR_RETURN(penalty_lists,
                             backend->allocate(DType::kI32, Shape{std::max<int64_t>(size * 2, 4096)}));
  }
  const TensorView device_params = penalty_params.view().rows(0, n);
  const TensorView device_lists = penalty_lists.view().rows(0, size);
  AUTOGLM_RETURN_IF_ERROR(backend->copy(
      device_params, TensorView{params.data(), DType::kF32, Shape{n, kPenaltyParams}, Device{}}));
  AUTOGLM_RETURN_IF_ERROR(
      backend->copy(device_lists, TensorView{lists.data(), DType::kI32, Shape{size}, Device{}}));
  const int64_t n_entries = (size - (n + 1)) / kPenaltyEntryFields;
  return apply_penalties(*backend,
                         {logits, device_params, device_lists.rows(0, n + 1),
                          device_lists.rows(n + 1, size).reshaped(Shape{n_entries, kPenaltyEntryFields})});
}

void AsyncEngine::Impl::refresh_gauges_locked() {
  const KvStats kv_stats = kv_manager->stats();
  stats.n_running = scheduler->n_running();
  stats.n_waiting = scheduler->n_waiting();
  stats.n_preemptions = scheduler->stats().n_preemptions;
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
  stats.step_ms += step_ms;
  if (options.profile_ops) {
    const ExecutorStats& e = executor->stats();
    stats.op_times.clear();
    for (size_t k = 0; k < kOpKindCount; ++k) {
      if (e.op_calls[k] > 0)
        stats.op_times.push_back(OpTime{op_kind_name(static_cast<OpKind>(k)), e.op_ms[k], e.op_calls[k]});
    }
  }
}

}  // namespace autoglm

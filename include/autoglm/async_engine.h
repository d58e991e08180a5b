// Public serving API: many requests at once over one model, continuously batched on the engine's own thread,
// with a paged KV cache and automatic prefix reuse. Light header: no third-party or internal types (PIMPL).
//
// Threading: every method may be called from any thread. Events of a request are delivered in order, on the
// engine thread, to the request's callback (keep it short: hand the event to your own queue or I/O loop), or
// through a RequestStream, a blocking queue for callers that prefer to wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autoglm/engine.h"
#include "autoglm/logprobs.h"
#include "autoglm/sampling_params.h"
#include "autoglm/status.h"

namespace autoglm {

struct ServeOptions {
  // Token slots per KV block, and the number of blocks (0: as many as kv_memory_fraction of the free device
  // memory holds; on the CPU, enough for max_num_seqs sequences of the full context).
  int32_t kv_block_size = 16;
  int32_t kv_blocks = 0;
  double kv_memory_fraction = 0.85;
  // Element type of the KV cache: "auto" (the model's: bf16 where a GPU computes in 16 bits, else f32),
  // "f32", "bf16", "f16", or "fp8" (f8_e4m3: half of bf16's bytes, so twice the tokens in the same memory and
  // half the reads per decode token; values stored unscaled, rounded to 3 mantissa bits).
  std::string kv_cache_dtype = "auto";
  bool enable_prefix_caching = true;
  int32_t max_num_seqs = 256;             // sequences per step
  int32_t max_num_batched_tokens = 2048;  // tokens per step (the budget chunked prefill splits prompts by)
  bool enable_chunked_prefill = true;
  // Decode steps recorded as CUDA graphs per batch-size bucket (backends that record work).
  bool use_graphs = true;
  // A step's events are handed out while the next step's kernels run (off: right after the step, while the
  // GPU waits).
  bool overlap_output = true;
  // Steps whose tokens are chosen on the device (no penalties, log-probabilities or host draws) let the
  // next step be planned, built and queued before their tokens reach the host; the next step's decode inputs
  // are read from the device. Same tokens as step by step; the GPU does not wait for the host between steps.
  bool async_scheduling = true;
  // Split steps: a step of at least nano_batch_min_decodes decodes and nano_batch_min_prompt_rows prompt
  // tokens runs as two halves (its decodes, its prompt chunks) whose attention and GEMMs overlap on two
  // streams, the prompt half's GEMMs (beside the decodes' attention) planned for nano_batch_gemm_sms SMs and
  // the decodes' for nano_batch_decode_gemm_sms (0: all). Same tokens either way; backends with one queue
  // (the CPU) gain nothing from it.
  bool nano_batch = false;
  int32_t nano_batch_min_decodes = 64;
  int32_t nano_batch_min_prompt_rows = 512;
  int32_t nano_batch_gemm_sms = 0;
  int32_t nano_batch_decode_gemm_sms = 0;
  // Times every op of every step (synchronizing after each: slows the engine down), reported in
  // EngineStats::op_times.
  bool profile_ops = false;
};

using RequestId = uint64_t;

struct Request {
  std::vector<int32_t> prompt;  // token ids; must be non-empty
  int32_t max_tokens = 16;      // generated tokens at most (the context length also bounds it)
  SamplingParams sampling;
  std::vector<int32_t> stop_token_ids;  // in addition to the model's EOS ids unless ignore_eos
  // Generation stops when the text contains one of these; the text returned ends before it.
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;
  // Lower values are served first (vLLM's convention); among equals, earlier submissions first. When KV
  // memory runs out, the running request of the highest value, latest submitted, is preempted (recomputed
  // later).
  int32_t priority = 0;
  // Prefix-cache scope: requests only reuse KV cached under the same salt (tenant isolation).
  std::string cache_salt;
  // Incremental text in the events (needs the model's tokenizer; ids only otherwise).
  bool detokenize = true;
  bool skip_special_tokens = true;
  // Log-probabilities in the events: -1 none; n >= 0: each token's own and its n most likely alternatives.
  int32_t logprobs = -1;
};

struct RequestEvent {
  RequestId id = 0;
  std::vector<int32_t>
      tokens;        // new token ids since the last event (the stop token included if one ended it)
  std::string text;  // text completed by these tokens (empty without detokenize)
  std::vector<TokenLogprobs> logprobs;  // one per token when Request::logprobs >= 0
  bool finished = false;
  FinishReason finish_reason = FinishReason::kLength;  // valid when finished
  Status error;                                        // set (and finished) when the request failed
  // Set on the first event: prompt tokens whose KV came from the prefix cache.
  int32_t cached_prompt_tokens = 0;
  int32_t prompt_tokens = 0;
  double queue_ms = 0;        // set on the first event: submission to the first step that ran the request
  int32_t n_preemptions = 0;  // valid when finished
};

using RequestCallback = std::function<void(const RequestEvent&)>;

// Blocking queue over a request's events.
class RequestStream {
 public:
  virtual ~RequestStream() = default;
  virtual RequestId id() const = 0;
  // Waits for the next event; false once the finishing event was taken (or on timeout, with *timed_out set).
  virtual bool next(RequestEvent* event, std::chrono::milliseconds timeout = std::chrono::milliseconds::max(),
                    bool* timed_out = nullptr) = 0;
};

struct OpTime {
  std::string op;
  double ms = 0;
  int64_t calls = 0;
};

struct EngineStats {
  int64_t n_running = 0;
  int64_t n_waiting = 0;
  int64_t n_finished = 0;
  int64_t n_preemptions = 0;
  int64_t n_steps = 0;
  int64_t n_steps_ahead = 0;  // of those, queued before the tokens of the step before reached the host
  int64_t n_split_steps = 0;  // of those, run as two overlapping halves (ServeOptions::nano_batch)
  int64_t prompt_tokens = 0;  // prompt tokens of admitted requests
  int64_t computed_prompt_tokens = 0;  // of those, the ones that ran through the model
  int64_t generated_tokens = 0;
  int64_t prefix_queries = 0;  // prompt tokens looked up in the prefix cache
  int64_t prefix_hits = 0;     // of those, tokens whose KV was reused
  int32_t kv_blocks_total = 0;
  int32_t kv_block_size = 0;   // token slots per block
  std::string kv_cache_dtype;  // element type of the KV cache: "f32", "bf16", "f16" or "f8_e4m3"
  int32_t kv_blocks_used = 0;  // referenced by live sequences
  // Summed over steps, after each: token slots of the referenced blocks, and of those the ones holding no
  // token (the unfilled end of each sequence's last block). Their ratio is the KV memory lost to
  // fragmentation, weighted by how much KV the steps held.
  int64_t kv_slots_held = 0;
  int64_t kv_slots_unfilled = 0;
  // Host work of all steps outside queueing the forward pass and waiting for the device's results
  // (scheduling, bookkeeping, sampling, stop checks). Step by step the GPU waits for it; with
  // async_scheduling most of it runs while the GPU computes the next step. The hand-off of a step's events
  // runs while the next step's kernels run, and is counted here.
  double host_ms = 0;
  double wait_ms = 0;            // waiting for the device's results (its compute, when the host is ahead)
  double step_ms = 0;            // wall time of all steps
  std::vector<OpTime> op_times;  // with ServeOptions::profile_ops: per op kind, all steps
};

class AsyncEngine {
 public:
  static Status create(const EngineOptions& engine_options, const ServeOptions& serve_options,
                       std::unique_ptr<AsyncEngine>* engine);
  // Stops the engine thread; unfinished requests get a cancelled finishing event.
  ~AsyncEngine();
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Queues a request. Invalid requests (empty prompt, ids outside the vocabulary, prompt + 1 over the
  // context) are refused here with kInvalidArgument; the callback is never called for them.
  Status submit(Request request, RequestCallback callback, RequestId* id);
  // Same, events through a blocking stream.
  Status submit(Request request, std::unique_ptr<RequestStream>* stream);
  // Stops a request: its KV is freed and it gets a finishing event with FinishReason::kCancelled (unless it
  // finished already). Unknown ids are ignored.
  void cancel(RequestId id);
  EngineStats stats() const;
  // The model and tokenizer (tokenize, templates, model_info); not for generate() while serving.
  const Engine& engine() const;

 private:
  struct Impl;
  explicit AsyncEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace autoglm

// autoglm bench-serve: a serving benchmark over the public AsyncEngine API (vLLM benchmark_serving style,
// without HTTP). Requests of a synthetic or trace-replay workload (cli/serve_workload.h) are submitted from
// one thread at their arrival times, greedy and with ignore_eos so every request produces exactly its
// max_tokens; the callbacks only timestamp events. The report (cli/latency_stats.h) puts latencies next to
// the engine's counters: prefix-cache hits, preemptions, batch size, host overhead per step, KV use.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "autoglm/async_engine.h"
#include "backend/gpu_power.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/latency_stats.h"
#include "cli/serve_workload.h"

namespace autoglm::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct ServeBenchOptions {
  // Model.
  std::string model;
  std::string config;
  bool random_weights = false;
  std::string dtype;
  std::string backend = "cpu";
  int threads = 0;
  int tensor_parallel = 1;
  int64_t max_context = 0;
  // Engine.
  int max_num_seqs = 256;
  int max_batched_tokens = 2048;
  int kv_blocks = 0;
  int block_size = 16;
  std::string kv_cache_dtype = "auto";
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  bool no_graphs = false;
  bool no_gemm_tuning = false;
  bool no_bulk_copies = false;
  bool no_warpgroup_mma = false;
  bool no_overlap_output = false;
  bool no_async_scheduling = false;
  bool nano_batch = false;
  int nano_batch_min_decodes = 64;
  int nano_batch_min_prompt_rows = 512;
  int nano_batch_gemm_sms = 0;
  int nano_batch_decode_gemm_sms = 0;
  bool profile = false;
  // Sampling of every request (0: greedy, chosen on the device).
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Synthetic workload.
  int num_prompts = 16;
  std::string input_len = "512";
  std::string output_len = "128";
  int shared_prefix = 0;
  bool prefix_warmup = false;
  uint64_t seed = 0;
  // Trace workload.
  std::string trace;
  size_t max_requests = 0;
  double time_scale = 1.0;
  bool no_arrivals = false;
  int max_input = 0;
  int min_output = 1;
  std::string trace_priority = "asc";
  int trace_block_size = 0;
  // Driver.
  int warmup = 1;
  double timeout_s = 0;
  double poll_ms = 10;
  int power_sample_ms = 200;  // GPU power and clock samples (NVML) during the measured run; 0: none
  std::string json_path;
};

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// What the callbacks share with the driver. Held by shared_ptr: the engine's destructor still delivers
// cancelled finishing events, so this must outlive it whatever the order of destruction.
struct RunState {
  Clock::time_point t0;
  std::vector<RequestRecord> records;
  std::mutex mutex;
  std::condition_variable all_done;
  size_t n_done = 0;

  void mark_done() {
    std::lock_guard<std::mutex> lock(mutex);
    ++n_done;
    all_done.notify_all();
  }
  // True when every request finished before the deadline (none: waits for as long as it takes).
  bool wait(std::optional<Clock::time_point> deadline) {
    std::unique_lock<std::mutex> lock(mutex);
    auto finished = [&] { return n_done == records.size(); };
    if (!deadline) {
      all_done.wait(lock, finished);
      return true;
    }
    return all_done.wait_until(lock, *deadline, finished);
  }
};

// Events of one request arrive in order on the engine thread, so its record needs no lock; the finishing
// event publishes it to the driver through mark_done's mutex.
RequestCallback record_events(std::shared_ptr<RunState> state, size_t index) {
  return [state = std::move(state), index](const RequestEvent& e) {
    const double now = ms_between(state->t0, Clock::now());
    RequestRecord& r = state->records[index];
    if (r.event_prompt_tokens == 0 && e.prompt_tokens > 0) {
      r.event_prompt_tokens = e.prompt_tokens;
      r.cached_prompt_tokens = e.cached_prompt_tokens;
    }
    if (!e.tokens.empty()) {
      if (r.first_token_ms < 0) r.first_token_ms = now;
      r.token_ms.insert(r.token_ms.end(), e.tokens.size(), now);
    }
    if (!e.finished) return;
    r.finish_ms = now;
    r.finished = true;
    r.n_preemptions = e.n_preemptions;
    if (!e.error.is_ok()) {
      r.failed = true;
      r.error = e.error.to_string();
    } else if (e.finish_reason == FinishReason::kCancelled) {
      r.cancelled = true;
    }
    state->mark_done();
  };
}

Request make_request(WorkloadRequest&& w, const ServeBenchOptions& o) {
  Request r;
  r.prompt = std::move(w.prompt);
  r.max_tokens = w.max_tokens;
  r.priority = w.priority;
  r.sampling.temperature = o.temperature;
  r.sampling.top_p = o.top_p;
  r.sampling.top_k = o.top_k;
  r.sampling.repetition_penalty = o.repetition_penalty;
  r.sampling.presence_penalty = o.presence_penalty;
  r.sampling.frequency_penalty = o.frequency_penalty;
  r.sampling.seed = o.seed + static_cast<uint64_t>(r.prompt.size());
  r.ignore_eos = true;
  r.detokenize = false;
  return r;
}

struct Workload {
  std::vector<WorkloadRequest> requests;
  nlohmann::json description;
  std::string summary;  // one line for the table
};

Expected<Workload> build_workload(const ServeBenchOptions& o, const ModelInfo& info) {
  Workload w;
  const int64_t context = info.max_context;
  if (o.trace.empty()) {
    SyntheticOptions s;
    s.num_prompts = o.num_prompts;
    AUTOGLM_ASSIGN_OR_RETURN(s.input_len, parse_length_range(o.input_len));
    AUTOGLM_ASSIGN_OR_RETURN(s.output_len, parse_length_range(o.output_len));
    s.shared_prefix = o.shared_prefix;
    s.seed = o.seed;
    s.vocab_size = info.vocab_size;
    if (context > 0 && int64_t{s.shared_prefix} + s.input_len.hi + 1 > context) {
      return invalid_argument("prompts of up to " + std::to_string(s.shared_prefix + s.input_len.hi) +
                              " tokens do not fit the context of " + std::to_string(context) +
                              " (see --max-context)");
    }
    AUTOGLM_ASSIGN_OR_RETURN(w.requests, make_synthetic_workload(s));
    w.description = {
        {"kind", "synthetic"},        {"num_prompts", s.num_prompts},     {"input_len", o.input_len},
        {"output_len", o.output_len}, {"shared_prefix", s.shared_prefix}, {"seed", s.seed}};
    w.summary = "synthetic: " + std::to_string(s.num_prompts) + " prompts, input " + o.input_len +
                (s.shared_prefix > 0 ? " after a shared prefix of " + std::to_string(s.shared_prefix) : "") +
                ", output " + o.output_len + ", all at once";
    return w;
  }
  AUTOGLM_ASSIGN_OR_RETURN(const std::vector<TraceRecord> records, load_trace(o.trace, o.max_requests));
  TraceOptions t;
  t.vocab_size = info.vocab_size;
  t.block_size = o.trace_block_size;
  t.min_output = o.min_output;
  t.max_input = o.max_input;  // default: room for min_output tokens in the context (0: context unknown)
  if (t.max_input == 0 && context > 0)
    t.max_input = static_cast<int32_t>(std::max<int64_t>(1, context - o.min_output));
  t.time_scale = o.time_scale;
  t.no_arrivals = o.no_arrivals;
  t.seed = o.seed;
  AUTOGLM_ASSIGN_OR_RETURN(t.priority_map, parse_trace_priority_map(o.trace_priority));
  AUTOGLM_ASSIGN_OR_RETURN(TraceWorkload tw, make_trace_workload(records, t));
  const double span_ms =
      tw.requests.empty()
          ? 0.0
          : std::max_element(tw.requests.begin(), tw.requests.end(), [](const auto& a, const auto& b) {
              return a.arrival_ms < b.arrival_ms;
            })->arrival_ms;
  w.description = {{"kind", "trace"},
                   {"trace", o.trace},
                   {"requests", tw.requests.size()},
                   {"trace_block_size", tw.block_size},
                   {"distinct_blocks", tw.n_distinct_blocks},
                   {"max_input", t.max_input},
                   {"clamped_inputs", tw.n_clamped},
                   {"min_output", t.min_output},
                   {"outputs_raised_to_min", tw.n_output_raised},
                   {"time_scale", t.time_scale},
                   {"no_arrivals", t.no_arrivals},
                   {"arrival_span_ms", span_ms},
                   {"priority_map", o.trace_priority},
                   {"seed", t.seed}};
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "trace %s: %zu requests over %.1f s, %d-token blocks (%lld distinct), %d inputs clamped to %d, "
      "%d outputs raised to %d",
      o.trace.c_str(), tw.requests.size(), span_ms / 1000.0, tw.block_size,
      static_cast<long long>(tw.n_distinct_blocks), tw.n_clamped, t.max_input, tw.n_output_raised,
      t.min_output);
  w.summary = line;
  w.requests = std::move(tw.requests);
  return w;
}

// A few short requests of their own random ids (no prefix shared with the workload), waited for.
Status warm_up(AsyncEngine& engine, const ServeBenchOptions& o, const ModelInfo& info) {
  if (o.warmup <= 0) return Status::ok();
  SyntheticOptions s;
  s.num_prompts = o.warmup;
  const int32_t input = static_cast<int32_t>(std::clamp<int64_t>(info.max_context - 9, 1, 32));
  s.input_len = {input, input};
  s.output_len = {8, 8};
  s.seed = o.seed ^ 0x5741524D55505F31ull;
  s.vocab_size = info.vocab_size;
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<WorkloadRequest> requests, make_synthetic_workload(s));
  std::vector<std::unique_ptr<RequestStream>> streams(requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    AUTOGLM_RETURN_IF_ERROR(engine.submit(make_request(std::move(requests[i]), o), &streams[i]));
  for (auto& stream : streams) {
    RequestEvent e;
    while (stream->next(&e)) {
      if (e.finished && !e.error.is_ok()) return e.error.with_context("warm-up request");
    }
  }
  return Status::ok();
}

// Polls the engine's stats until `stop`; the samples give the running batch and the KV peak.
std::vector<StatsSample> poll_stats(const AsyncEngine& engine, Clock::time_point t0, double poll_ms,
                                    const std::atomic<bool>& stop) {
  std::vector<StatsSample> samples;
  const auto period = std::chrono::duration<double, std::milli>(std::max(poll_ms, 0.1));
  while (!stop.load(std::memory_order_acquire)) {
    const EngineStats s = engine.stats();
    samples.push_back({ms_between(t0, Clock::now()), s.n_running, s.n_waiting, s.kv_blocks_used});
    std::this_thread::sleep_for(period);
  }
  return samples;
}

nlohmann::json config_json(const ServeBenchOptions& o, const ModelInfo& info, const ServeOptions& serve) {
  return {{"model", o.random_weights ? o.config + " (random weights)" : o.model},
          {"architecture", info.architecture},
          {"weight_dtype", info.weight_dtype},
          {"backend", o.backend},
          {"threads", o.threads},
          {"max_context", info.max_context},
          {"vocab_size", info.vocab_size},
          {"kv_block_size", serve.kv_block_size},
          {"kv_blocks", serve.kv_blocks},
          {"kv_cache_dtype", serve.kv_cache_dtype},
          {"prefix_caching", serve.enable_prefix_caching},
          {"chunked_prefill", serve.enable_chunked_prefill},
          {"max_num_seqs", serve.max_num_seqs},
          {"max_num_batched_tokens", serve.max_num_batched_tokens},
          {"graphs", serve.use_graphs},
          {"gemm_tuning", !o.no_gemm_tuning},
          {"bulk_copies", !o.no_bulk_copies},
          {"warpgroup_mma", !o.no_warpgroup_mma},
          {"overlap_output", serve.overlap_output},
          {"async_scheduling", serve.async_scheduling},
          {"nano_batch", serve.nano_batch},
          {"nano_batch_gemm_sms", serve.nano_batch_gemm_sms},
          {"nano_batch_decode_gemm_sms", serve.nano_batch_decode_gemm_sms},
          {"tensor_parallel", o.tensor_parallel},
          {"warmup_requests", o.warmup}};
}

int run_bench_serve(const ServeBenchOptions& o) {
  EngineOptions engine_options;
  if (o.random_weights) {
    if (o.config.empty()) return fail(invalid_argument("--random-weights needs --config config.json"));
    engine_options.random_weights_config = o.config;
  } else {
    if (o.model.empty()) return fail(invalid_argument("give -m MODEL or --config FILE --random-weights"));
    engine_options.model_path = o.model;
  }
  engine_options.weight_dtype = o.dtype;
  engine_options.backend = o.backend;
  engine_options.n_threads = o.threads;
  engine_options.tensor_parallel = o.tensor_parallel;
  engine_options.max_context = o.max_context;
  engine_options.tune_gemms = !o.no_gemm_tuning;
  engine_options.bulk_copies = !o.no_bulk_copies;
  engine_options.warpgroup_mma = !o.no_warpgroup_mma;
  ServeOptions serve;
  serve.kv_block_size = o.block_size;
  serve.kv_blocks = o.kv_blocks;
  serve.kv_cache_dtype = o.kv_cache_dtype;
  serve.enable_prefix_caching = !o.no_prefix_caching;
  serve.max_num_seqs = o.max_num_seqs;
  serve.max_num_batched_tokens = o.max_batched_tokens;
  serve.enable_chunked_prefill = !o.no_chunked_prefill;
  serve.use_graphs = !o.no_graphs;
  serve.overlap_output = !o.no_overlap_output;
  serve.nano_batch = o.nano_batch;
  serve.nano_batch_min_decodes = o.nano_batch_min_decodes;
  serve.nano_batch_min_prompt_rows = o.nano_batch_min_prompt_rows;
  serve.nano_batch_gemm_sms = o.nano_batch_gemm_sms;
  serve.nano_batch_decode_gemm_sms = o.nano_batch_decode_gemm_sms;
  serve.async_scheduling = !o.no_async_scheduling;
  serve.profile_ops = o.profile;

  std::unique_ptr<AsyncEngine> engine;
  const Clock::time_point start = Clock::now();
  if (Status s = AsyncEngine::create(engine_options, serve, &engine); !s) return fail(s);
  // Weights, KV pool, and the warm-up passes that tune the GEMMs (not part of any measured figure).
  const double engine_start_ms = ms_between(start, Clock::now());
  std::fprintf(stderr, "engine started in %.1f s\n", engine_start_ms / 1000);
  const ModelInfo info = engine->engine().model_info();
  auto workload = build_workload(o, info);
  if (!workload) return fail(workload.status());
  std::fprintf(stderr, "%s\n", workload->summary.c_str());
  if (Status s = warm_up(*engine, o, info); !s) return fail(s);
  if (o.prefix_warmup && o.shared_prefix > 0 && !workload->requests.empty()) {
    // The shared prefix alone, once, so that the measured requests find it in the prefix cache (warm TTFT);
    // compare with a run without this flag and with --no-prefix-caching (cold TTFT).
    const std::vector<int32_t>& first = workload->requests.front().prompt;
    WorkloadRequest prefix;
    prefix.prompt.assign(first.begin(), first.begin() + std::min<size_t>(first.size(), o.shared_prefix + 1));
    prefix.max_tokens = 1;
    std::unique_ptr<RequestStream> stream;
    if (Status s = engine->submit(make_request(std::move(prefix), o), &stream); !s) return fail(s);
    RequestEvent e;
    while (stream->next(&e)) {
      if (e.finished && !e.error.is_ok()) return fail(e.error);
    }
  }

  auto state = std::make_shared<RunState>();
  std::vector<WorkloadRequest>& requests = workload->requests;
  state->records.resize(requests.size());
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].arrival_ms < requests[b].arrival_ms; });
  std::vector<RequestId> ids(requests.size(), 0);

  // The GPUs' power and SM clock over the measured run: whether its kernels ran at full clock or were held
  // at the power limit (backend/gpu_power.h). Where NVML cannot be read, the run goes on without it.
  std::optional<GpuPowerMonitor> power;
  if (o.power_sample_ms > 0 && !info.gpu_pci_bus_ids.empty()) {
    auto reader = GpuPowerReader::open(info.gpu_pci_bus_ids);
    if (reader) {
      power.emplace(std::move(reader).value(), std::chrono::milliseconds(o.power_sample_ms));
    } else {
      std::fprintf(stderr, "no GPU power samples: %s\n", reader.status().to_string().c_str());
    }
  }

  const EngineStats before = engine->stats();
  state->t0 = Clock::now();
  std::atomic<bool> stop_polling{false};
  std::vector<StatsSample> samples;
  std::thread poller([&] { samples = poll_stats(*engine, state->t0, o.poll_ms, stop_polling); });

  for (size_t index : order) {
    WorkloadRequest& w = requests[index];
    std::this_thread::sleep_until(state->t0 + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double, std::milli>(w.arrival_ms)));
    RequestRecord& r = state->records[index];
    r.prompt_tokens = static_cast<int32_t>(w.prompt.size());
    r.token_ms.reserve(static_cast<size_t>(w.max_tokens));
    r.submit_ms = ms_between(state->t0, Clock::now());
    if (Status s = engine->submit(make_request(std::move(w), o), record_events(state, index), &ids[index]);
        !s) {
      r.failed = true;
      r.error = s.to_string();
      state->mark_done();
    }
  }
  std::optional<Clock::time_point> deadline;
  if (o.timeout_s > 0)
    deadline =
        state->t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  bool all_finished = state->wait(deadline);
  if (!all_finished) {
    std::fprintf(stderr, "timeout after %.1f s: cancelling the unfinished requests\n", o.timeout_s);
    for (RequestId id : ids)
      engine->cancel(id);  // finished and unknown ids are ignored
    all_finished = state->wait(Clock::now() + std::chrono::seconds(60));
  }
  const double wall_ms = ms_between(state->t0, Clock::now());
  const EngineStats after = engine->stats();
  const std::vector<GpuPowerSummary> power_summaries = power ? power->stop() : std::vector<GpuPowerSummary>{};
  if (power && !power->failure())
    std::fprintf(stderr, "GPU power samples ended early: %s\n", power->failure().to_string().c_str());
  stop_polling.store(true, std::memory_order_release);
  poller.join();
  if (!all_finished)
    return fail(internal_error("the engine did not finish the cancelled requests within 60 s"));

  const ServeReport report = compute_report(state->records, before, after, samples, wall_ms);
  std::printf("%s\n\n%s", workload->summary.c_str(), format_report(report).c_str());
  double gpu_joules = 0;
  for (const GpuPowerSummary& p : power_summaries) {
    std::printf("%s\n", format_gpu_power(p).c_str());
    gpu_joules += p.joules;
  }
  // Energy per token: under a power limit, what a kernel change must lower to make a run faster.
  if (gpu_joules > 0 && report.output_tokens > 0)
    std::printf("GPU energy: %.2f kJ, %.1f mJ per output token\n", gpu_joules / 1000,
                1000 * gpu_joules / static_cast<double>(report.output_tokens));
  if (o.profile) {
    std::printf("time per op (all steps, each op synchronized):\n");
    for (const OpTime& t : after.op_times)
      std::printf("  %-16s %10.1f ms %8lld calls\n", t.op.c_str(), t.ms, static_cast<long long>(t.calls));
  }
  for (const RequestRecord& r : state->records) {
    if (r.failed) {
      std::fprintf(stderr, "first failed request: %s\n", r.error.c_str());
      break;
    }
  }
  if (!o.json_path.empty()) {
    nlohmann::json j;
    j["config"] = config_json(o, info, serve);
    j["config"]["engine_start_ms"] = engine_start_ms;
    j["workload"] = workload->description;
    j["results"] = report_to_json(report);
    for (const GpuPowerSummary& p : power_summaries) {
      j["results"]["gpu_power"].push_back({{"device", p.device},
                                           {"samples", p.samples},
                                           {"mean_watts", p.mean_watts},
                                           {"max_watts", p.max_watts},
                                           {"limit_watts", p.limit_watts},
                                           {"mean_sm_mhz", p.mean_sm_mhz},
                                           {"min_sm_mhz", p.min_sm_mhz},
                                           {"max_sm_mhz", p.max_sm_mhz},
                                           {"device_max_sm_mhz", p.device_max_sm_mhz},
                                           {"power_capped_share", p.power_capped},
                                           {"slowdown_share", p.slowdown},
                                           {"seconds", p.seconds},
                                           {"joules", p.joules}});
    }
    std::ofstream out(o.json_path);
    out << j.dump(2) << "\n";
    if (!out) return fail(io_error("cannot write " + o.json_path));
  }
  return report.n_failed > 0 ? 1 : 0;
}

}  // namespace

void add_bench_serve(CLI::App& app) {
  auto o = std::make_shared<ServeBenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench-serve", "Serving benchmark: latency and throughput of many concurrent requests (AsyncEngine)");
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("-m,--model", o->model, "HF model directory or .gguf file")->group("Model");
  cmd->add_option("--config", o->config, "config.json describing the model shape (with --random-weights)")
      ->group("Model");
  cmd->add_flag("--random-weights", o->random_weights, "build random weights in memory")->group("Model");
  cmd->add_option("--dtype", o->dtype, "weight dtype: f32, f16, bf16")->group("Model");
  cmd->add_option("--backend", o->backend, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->group("Model");
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0 = all cores)")->group("Model");
  cmd->add_option("--tensor-parallel", o->tensor_parallel,
                  "split the model over N ranks: N GPUs (NCCL), or N CPU ranks sharing the cores")
      ->check(CLI::PositiveNumber)
      ->group("Model");
  cmd->add_option("--max-context", o->max_context, "positions per sequence (0: the engine's default)")
      ->group("Model");

  cmd->add_option("--max-num-seqs", o->max_num_seqs, "sequences per step")
      ->check(CLI::PositiveNumber)
      ->group("Engine");
  cmd->add_option("--max-batched-tokens", o->max_batched_tokens, "tokens per step")
      ->check(CLI::PositiveNumber)
      ->group("Engine");
  cmd->add_option("--kv-blocks", o->kv_blocks, "KV blocks (0: the engine's default)")
      ->check(CLI::NonNegativeNumber)
      ->group("Engine");
  cmd->add_option("--block-size", o->block_size, "token slots per KV block")
      ->check(CLI::PositiveNumber)
      ->group("Engine");
  cmd->add_option("--kv-cache-dtype", o->kv_cache_dtype,
                  "KV cache element type: auto (the model's), f32, bf16, f16 or fp8 (e4m3)")
      ->capture_default_str()
      ->group("Engine");
  cmd->add_flag("--no-prefix-caching", o->no_prefix_caching, "disable prefix reuse")->group("Engine");
  cmd->add_flag("--no-chunked-prefill", o->no_chunked_prefill, "prefill whole prompts in one step")
      ->group("Engine");
  cmd->add_flag("--no-graphs", o->no_graphs, "do not record decode steps as CUDA graphs")->group("Engine");
  cmd->add_flag("--no-gemm-tuning", o->no_gemm_tuning,
                "take cuBLASLt's first algorithm instead of timing its candidates per row-count bucket")
      ->group("Engine");
  cmd->add_flag("--no-bulk-copies", o->no_bulk_copies,
                "land the decode attention's K and V rows by per-lane copies, not the GPU's bulk copies")
      ->group("Engine");
  cmd->add_flag("--no-warpgroup-mma", o->no_warpgroup_mma,
                "run the prefill attention on mma.sync, not Hopper's warpgroup MMA")
      ->group("Engine");
  cmd->add_flag("--no-overlap-output", o->no_overlap_output,
                "hand out a step's tokens before the next step starts, not while it runs")
      ->group("Engine");
  cmd->add_flag("--no-async-scheduling", o->no_async_scheduling,
                "plan and queue each step after the last one's tokens reach the host, not before")
      ->group("Engine");
  cmd->add_flag("--nano-batch", o->nano_batch,
                "run steps of many decodes and prompt tokens as two halves overlapping on two streams")
      ->group("Engine");
  cmd->add_option("--nano-batch-min-decodes", o->nano_batch_min_decodes, "decodes a step needs to be split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group("Engine");
  cmd->add_option("--nano-batch-min-prompt-rows", o->nano_batch_min_prompt_rows,
                  "prompt tokens a step needs to be split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group("Engine");
  cmd->add_option("--nano-batch-gemm-sms", o->nano_batch_gemm_sms,
                  "SMs the prompt half's GEMMs of a split step are planned for (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->group("Engine");
  cmd->add_option("--nano-batch-decode-gemm-sms", o->nano_batch_decode_gemm_sms,
                  "SMs the decode half's GEMMs of a split step are planned for (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->group("Engine");
  cmd->add_option("--temperature", o->temperature, "sampling temperature of every request (0: greedy)")
      ->check(CLI::Range(0.0, 2.0))
      ->group("Engine");
  cmd->add_option("--top-p", o->top_p, "nucleus of every request")
      ->check(CLI::Range(0.0, 1.0))
      ->group("Engine");
  cmd->add_option("--top-k", o->top_k, "top-k of every request (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->group("Engine");
  cmd->add_option("--repetition-penalty", o->repetition_penalty,
                  "repetition penalty of every request (1: off)")
      ->check(CLI::PositiveNumber)
      ->group("Engine");
  cmd->add_option("--presence-penalty", o->presence_penalty, "presence penalty of every request (0: off)")
      ->check(CLI::Range(-2.0, 2.0))
      ->group("Engine");
  cmd->add_option("--frequency-penalty", o->frequency_penalty, "frequency penalty of every request (0: off)")
      ->check(CLI::Range(-2.0, 2.0))
      ->group("Engine");
  cmd->add_flag("--profile", o->profile, "time every op (synchronizes after each; slower)")->group("Engine");

  cmd->add_option("--num-prompts", o->num_prompts, "synthetic: requests")
      ->check(CLI::PositiveNumber)
      ->group("Workload");
  cmd->add_option("--input-len", o->input_len, "synthetic: prompt tokens after the shared prefix, A or A:B")
      ->group("Workload");
  cmd->add_option("--output-len", o->output_len, "synthetic: generated tokens, A or A:B")->group("Workload");
  cmd->add_flag(
         "--prefix-warmup", o->prefix_warmup,
         "synthetic: run the shared prefix once before measuring (its KV then sits in the prefix cache)")
      ->group("Workload");
  cmd->add_option("--shared-prefix", o->shared_prefix, "synthetic: tokens every prompt starts with")
      ->check(CLI::NonNegativeNumber)
      ->group("Workload");
  cmd->add_option("--seed", o->seed, "seed of lengths and token ids")->group("Workload");
  auto* trace = cmd->add_option("--trace", o->trace, "replay a JSONL trace (ts, il, ol, bh, priority)")
                    ->check(CLI::ExistingFile)
                    ->group("Workload");
  cmd->add_option("--max-requests", o->max_requests, "trace: the first N requests (0: all)")
      ->group("Workload");
  cmd->add_option("--time-scale", o->time_scale,
                  "trace: arrival = (ts - first ts) * X; 0.1 replays 10x faster")
      ->check(CLI::NonNegativeNumber)
      ->group("Workload");
  cmd->add_flag("--no-arrivals", o->no_arrivals, "trace: submit everything at once")->group("Workload");
  cmd->add_option("--max-input", o->max_input, "trace: cut longer prompts (0: context - min output)")
      ->check(CLI::NonNegativeNumber)
      ->group("Workload");
  cmd->add_option("--min-output", o->min_output, "trace: generated tokens at least (the trace's ol = 0)")
      ->check(CLI::PositiveNumber)
      ->group("Workload");
  cmd->add_option("--trace-priority", o->trace_priority,
                  "trace: asc (trace value as is, lower first), desc (higher first) or ignore")
      ->check(CLI::IsMember({"asc", "desc", "ignore"}))
      ->group("Workload");
  cmd->add_option("--trace-block-size", o->trace_block_size, "trace: tokens per hashed block (0: inferred)")
      ->check(CLI::NonNegativeNumber)
      ->group("Workload");

  cmd->add_option("--warmup", o->warmup, "warm-up requests before timing")
      ->check(CLI::NonNegativeNumber)
      ->group("Driver");
  cmd->add_option("--timeout", o->timeout_s, "seconds before unfinished requests are cancelled (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->group("Driver");
  cmd->add_option("--power-sample-ms", o->power_sample_ms,
                  "period of the GPU power and SM clock samples over the measured run (NVML; 0: none)")
      ->check(CLI::NonNegativeNumber)
      ->group("Driver");
  cmd->add_option("--poll-ms", o->poll_ms, "period of the engine stats samples")
      ->check(CLI::PositiveNumber)
      ->group("Driver");
  cmd->add_option("--json", o->json_path, "write every number as JSON to FILE")->group("Driver");
  cmd->callback([o, cmd, trace] {
    if (trace->count() > 0) {
      for (const char* name : {"--num-prompts", "--input-len", "--output-len", "--shared-prefix"}) {
        if (cmd->count(name) > 0) {
          set_exit_code(
              fail(invalid_argument(std::string(name) + " is for synthetic workloads, not --trace")));
          return;
        }
      }
    }
    set_exit_code(run_bench_serve(*o));
  });
}

}  // namespace autoglm::cli

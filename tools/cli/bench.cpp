// autoglm bench: prompt processing and generation speed (llama-bench style), next to the memory floor.
//
// Decode streams every weight matrix once per token, so its floor is weight bytes / measured read bandwidth;
// the report prints measured ms/token, that floor and their ratio (floor / measured: 1.0 is the floor).
// The bandwidth is probed before every timed repetition and the medians of both are compared, so a
// neighbour's load on a shared machine moves both the same way.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/memory_bandwidth.h"
#include "core/timer.h"
#include "graph/executor.h"
#include "loader/hf_config.h"
#include "model/model.h"

namespace autoglm::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string config;
  bool random_weights = false;
  std::string dtype;
  int n_prompt = 128;
  int n_gen = 32;
  int repeats = 3;
  int threads = 0;
  int bandwidth_mib = 1024;
  bool json = false;
  bool profile = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Expected<std::unique_ptr<Model>> load_model(const BenchOptions& o, Backend& backend) {
  std::optional<DType> dtype;
  if (!o.dtype.empty()) {
    dtype = parse_dtype(o.dtype);
    if (!dtype || *dtype == DType::kI32) return invalid_argument("unknown dtype '" + o.dtype + "'");
  }
  if (o.random_weights) {
    if (o.config.empty()) return invalid_argument("--random-weights needs --config config.json");
    AUTOGLM_ASSIGN_OR_RETURN(ModelConfig config, load_hf_config(o.config));
    return Model::random(config, backend, dtype.value_or(DType::kBF16));
  }
  if (o.model.empty()) return invalid_argument("give -m MODEL or --config FILE --random-weights");
  ModelLoadOptions load_options;
  load_options.weight_dtype = dtype;
  return Model::load(o.model, backend, load_options);
}

int run_bench(const BenchOptions& o) {
  BackendOptions backend_options;
  backend_options.n_threads = o.threads;
  auto backend = create_backend("cpu", backend_options);
  if (!backend) return fail(backend.status());
  Timer load_timer;
  auto model = load_model(o, **backend);
  if (!model) return fail(model.status());
  const double load_ms = load_timer.elapsed_ms();
  const ModelConfig& c = (*model)->config();
  const int64_t context = o.n_prompt + o.n_gen + 1;

  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab_size - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt)
    t = token(rng);

  const int n_threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  BandwidthProbe probe(static_cast<size_t>(o.bandwidth_mib) << 20, n_threads);
  if (!probe.ok()) return fail(resource_exhausted("cannot allocate the bandwidth probe's buffer"));
  Executor executor(**backend);
  executor.set_profiling(o.profile);
  std::vector<double> pp_ms, tg_ms, bandwidths;
  for (int r = 0; r < o.repeats + 1; ++r) {  // the first round warms caches and the arena, and is dropped
    if (r > 0) bandwidths.push_back(probe.measure());
    auto cache = KvCache::create(**backend, c, context);
    if (!cache) return fail(cache.status());
    Timer t;
    if (o.n_prompt > 0) {
      auto logits = (*model)->forward(executor, *cache, prompt);
      if (!logits) return fail(logits.status());
      if (r > 0) pp_ms.push_back(t.elapsed_ms());
    }
    int32_t next = token(rng);
    for (int i = 0; i < o.n_gen; ++i) {
      Timer step;
      auto logits = (*model)->forward(executor, *cache, std::span<const int32_t>(&next, 1));
      if (!logits) return fail(logits.status());
      if (r > 0) tg_ms.push_back(step.elapsed_ms());
      next = token(rng);
    }
  }
  const size_t weight_bytes = (*model)->weights().matrix_bytes;
  const double bandwidth = median(bandwidths);
  const double floor_ms = 1000.0 * static_cast<double>(weight_bytes) / bandwidth;
  const double decode_ms = median(tg_ms);
  const double prefill_ms = median(pp_ms);

  nlohmann::json j;
  j["model"] = o.random_weights ? o.config + " (random weights)" : o.model;
  j["architecture"] = c.architecture;
  j["weight_dtype"] = std::string(dtype_name((*model)->weight_dtype()));
  j["threads"] = n_threads;
  j["load_ms"] = load_ms;
  j["weight_bytes_per_token"] = weight_bytes;
  j["read_bandwidth_gbs"] = bandwidth / 1e9;
  j["n_prompt"] = o.n_prompt;
  j["n_gen"] = o.n_gen;
  j["repeats"] = o.repeats;
  j["pp_ms"] = prefill_ms;
  j["pp_tok_s"] = prefill_ms > 0 ? 1000.0 * o.n_prompt / prefill_ms : 0.0;
  j["tg_ms_per_token"] = decode_ms;
  j["tg_tok_s"] = decode_ms > 0 ? 1000.0 / decode_ms : 0.0;
  j["tg_floor_ms_per_token"] = floor_ms;
  j["tg_floor_ratio"] = decode_ms > 0 ? floor_ms / decode_ms : 0.0;
  if (o.profile) {
    nlohmann::json ops;
    for (size_t k = 0; k < kOpKindCount; ++k) {
      if (executor.stats().op_calls[k] == 0) continue;
      ops[op_kind_name(static_cast<OpKind>(k))] = {{"ms", executor.stats().op_ms[k]},
                                                   {"calls", executor.stats().op_calls[k]}};
    }
    j["op_profile"] = ops;
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("| model | dtype | threads | test | result | floor | floor/measured |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| %s | %s | %d | pp%d | %.1f tok/s | | |\n", c.architecture.c_str(),
              j["weight_dtype"].get<std::string>().c_str(), n_threads, o.n_prompt,
              j["pp_tok_s"].get<double>());
  std::printf("| %s | %s | %d | tg%d | %.2f ms/token (%.1f tok/s) | %.2f ms/token | %.2f |\n",
              c.architecture.c_str(), j["weight_dtype"].get<std::string>().c_str(), n_threads, o.n_gen,
              decode_ms, j["tg_tok_s"].get<double>(), floor_ms, j["tg_floor_ratio"].get<double>());
  std::printf("weights streamed per token: %.1f MB; read bandwidth: %.2f GB/s (%d threads)\n",
              weight_bytes / 1e6, bandwidth / 1e9, n_threads);
  if (o.profile)
    std::printf("time per op (all runs, warm-up included): %s\n", j["op_profile"].dump().c_str());
  return 0;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt-processing and generation speed");
  cmd->add_option("-m,--model", o->model, "HF model directory");
  cmd->add_option("--config", o->config, "config.json describing the model shape (with --random-weights)");
  cmd->add_flag("--random-weights", o->random_weights, "build random weights in memory");
  cmd->add_option("--dtype", o->dtype, "weight dtype: f32, f16, bf16 (random default: bf16)");
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-r,--repetitions", o->repeats, "timed repetitions")->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0 = all cores)");
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "buffer size of the bandwidth measurement");
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
  cmd->add_flag("--profile", o->profile, "time every op (adds a synchronization per op)");
  cmd->callback([o] { set_exit_code(run_bench(*o)); });
}

}  // namespace autoglm::cli

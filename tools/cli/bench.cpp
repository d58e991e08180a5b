// autoglm bench: prompt processing and generation speed (llama-bench style), next to the memory floor.
//
// Decode streams every weight matrix once per token, so its floor is weight bytes / measured read bandwidth;
// the report prints measured ms/token, that floor and their ratio (floor / measured: 1.0 is the floor).
// The bandwidth is probed before every timed repetition and the medians of both are compared, so a
// neighbour's load on a shared machine moves both the same way; each repetition's own ratio is printed too
// (a shared host's bandwidth can jump between repetitions). `--dtype a,b` compares dtypes under the same
// conditions: their repetitions alternate. `--tensor-parallel N` runs each model over N ranks (GPUs, or
// groups of CPU threads); each rank streams its shard at once, so on GPUs the floor is the largest shard's
// bytes / one GPU's bandwidth, and on the CPU, whose ranks share one memory, all shards' bytes / it. On GPUs
// the power and SM clock of the generation runs are sampled (NVML, backend/gpu_power.h) and printed with
// the energy per generated token.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "backend/gpu_power.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/memory_bandwidth.h"
#include "core/timer.h"
#include "engine/model_group.h"
#include "graph/executor.h"
#include "loader/hf_config.h"
#include "model/model.h"

namespace autoglm::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string config;
  bool random_weights = false;
  std::vector<std::string> dtypes;  // one model each; empty: the checkpoint's own (random: bf16)
  int n_prompt = 128;
  int n_gen = 32;
  int repeats = 3;
  int threads = 0;
  int bandwidth_mib = 1024;
  bool json = false;
  bool profile = false;
  std::string backend = "cpu";
  bool no_replay = false;
  bool no_gemm_tuning = false;
  int tensor_parallel = 1;
  int power_sample_ms = 50;  // GPU power and clock samples during the timed generation runs; 0: none
};

// The bandwidth denominator on a GPU: a device-to-device copy, counting bytes read plus bytes written (on
// an H100 within 2% of a pure read's bandwidth), best of a few passes.
class DeviceCopyProbe {
 public:
  static Expected<DeviceCopyProbe> create(Backend& backend, size_t bytes) {
    DeviceCopyProbe p(backend);
    const Shape shape{static_cast<int64_t>(bytes / sizeof(float))};
    AUTOGLM_ASSIGN_OR_RETURN(p.a_, backend.allocate(DType::kF32, shape));
    AUTOGLM_ASSIGN_OR_RETURN(p.b_, backend.allocate(DType::kF32, shape));
    return p;
  }
  Expected<double> measure(int passes = 5) {
    double best = 0;
    for (int i = 0; i < passes + 1; ++i) {
      AUTOGLM_RETURN_IF_ERROR(backend_->synchronize());
      Timer t;
      AUTOGLM_RETURN_IF_ERROR(backend_->copy(b_.view(), a_.view()));
      AUTOGLM_RETURN_IF_ERROR(backend_->synchronize());
      const double seconds = t.elapsed_ms() / 1000.0;
      if (i > 0) best = std::max(best, 2.0 * static_cast<double>(a_.nbytes()) / seconds);
    }
    return best;
  }

 private:
  explicit DeviceCopyProbe(Backend& backend) : backend_(&backend) {}
  Backend* backend_;
  Tensor a_, b_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Expected<std::unique_ptr<Model>> load_model(const BenchOptions& o, const std::string& dtype_name_arg,
                                            Backend& backend, const ParallelOptions& parallel) {
  std::optional<DType> dtype;
  if (!dtype_name_arg.empty()) {
    dtype = parse_dtype(dtype_name_arg);
    if (!dtype || !dtype_holds_weights(*dtype))
      return invalid_argument("unknown dtype '" + dtype_name_arg + "'");
  }
  if (o.random_weights) {
    if (o.config.empty()) return invalid_argument("--random-weights needs --config config.json");
    AUTOGLM_ASSIGN_OR_RETURN(ModelConfig config, load_hf_config(o.config));
    return Model::random(config, backend, dtype.value_or(DType::kBF16), 1, parallel);
  }
  if (o.model.empty()) return invalid_argument("give -m MODEL or --config FILE --random-weights");
  ModelLoadOptions load_options;
  load_options.weight_dtype = dtype;
  load_options.parallel = parallel;
  return Model::load(o.model, backend, load_options);
}

// One model (one weight dtype) over its ranks and what its repetitions measured.
struct ModelRun {
  std::unique_ptr<ModelGroup> group;
  std::vector<std::unique_ptr<Executor>> executors;  // one per rank
  double load_ms = 0;
  std::vector<double> pp_ms, tg_ms, bandwidths;
  std::vector<double> rep_ratios;  // per repetition: floor at that repetition's probe / its median ms/token
  std::vector<std::vector<GpuPowerSummary>> power;  // per GPU, one per timed generation run
};

// Samples the group's GPUs while one generation run goes on; nothing where NVML cannot be read (the reason
// is printed once).
class GenerationPower {
 public:
  GenerationPower(const ModelGroup& group, int period_ms, bool* warned) {
    std::vector<std::string> devices;
    for (int r = 0; r < group.world(); ++r) {
      std::string id = group.backend(r).pci_bus_id();
      if (!id.empty()) devices.push_back(std::move(id));
    }
    if (period_ms <= 0 || devices.empty()) return;
    auto reader = GpuPowerReader::open(devices);
    if (!reader) {
      if (!*warned) std::fprintf(stderr, "no GPU power samples: %s\n", reader.status().to_string().c_str());
      *warned = true;
      return;
    }
    monitor_.emplace(std::move(reader).value(), std::chrono::milliseconds(period_ms));
  }
  // Ends the sampling and adds each GPU's summary to `power`.
  void stop(std::vector<std::vector<GpuPowerSummary>>* power) {
    if (!monitor_) return;
    const std::vector<GpuPowerSummary> summaries = monitor_->stop();
    power->resize(std::max(power->size(), summaries.size()));
    for (size_t i = 0; i < summaries.size(); ++i)
      (*power)[i].push_back(summaries[i]);
    monitor_.reset();
  }

 private:
  std::optional<GpuPowerMonitor> monitor_;
};

// Weight bytes one decode step streams: all ranks' (on_host false: the largest shard's, which bounds ranks
// that read their own memories at once).
size_t streamed_bytes(const ModelGroup& group, bool all_ranks) {
  size_t sum = 0, largest = 0;
  for (int r = 0; r < group.world(); ++r) {
    sum += group.model(r).weights().matrix_bytes;
    largest = std::max(largest, group.model(r).weights().matrix_bytes);
  }
  return all_ranks ? sum : largest;
}

nlohmann::json report(const BenchOptions& o, const ModelRun& run, bool on_host, int n_threads) {
  const Model& model = run.group->model(0);
  const size_t weight_bytes = streamed_bytes(*run.group, true);
  const double bandwidth = median(run.bandwidths);
  const double floor_ms = 1000.0 * static_cast<double>(streamed_bytes(*run.group, on_host)) / bandwidth;
  const double decode_ms = median(run.tg_ms);
  const double prefill_ms = median(run.pp_ms);
  nlohmann::json j;
  j["model"] = o.random_weights ? o.config + " (random weights)" : o.model;
  j["architecture"] = model.config().architecture;
  j["weight_dtype"] = std::string(dtype_name(model.weight_dtype()));
  j["backend"] = run.group->backend(0).name();
  j["threads"] = n_threads;
  j["tensor_parallel"] = run.group->world();
  j["weight_bytes_per_rank"] = streamed_bytes(*run.group, false);
  j["load_ms"] = run.load_ms;
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
  j["tg_floor_ratio_per_repetition"] = run.rep_ratios;
  const double generated = static_cast<double>(run.tg_ms.size());
  for (const std::vector<GpuPowerSummary>& windows : run.power) {
    const GpuPowerSummary p = merge_gpu_power(windows);
    j["gpu_power"].push_back({{"device", p.device},
                              {"summary", format_gpu_power(p)},
                              {"mean_watts", p.mean_watts},
                              {"mean_sm_mhz", p.mean_sm_mhz},
                              {"power_capped_share", p.power_capped},
                              {"joules", p.joules},
                              {"seconds", p.seconds},
                              {"mj_per_generated_token", generated > 0 ? 1000 * p.joules / generated : 0.0}});
  }
  if (o.profile) {
    nlohmann::json ops;
    const ExecutorStats& stats = run.executors.front()->stats();
    for (size_t k = 0; k < kOpKindCount; ++k) {
      if (stats.op_calls[k] == 0) continue;
      ops[op_kind_name(static_cast<OpKind>(k))] = {{"ms", stats.op_ms[k]}, {"calls", stats.op_calls[k]}};
    }
    j["op_profile"] = ops;
  }
  return j;
}

void print_rows(const BenchOptions& o, const nlohmann::json& j, bool on_host) {
  const std::string arch = j["architecture"], dtype = j["weight_dtype"];
  const int n_threads = j["threads"];
  std::printf("| %s | %s | %d | pp%d | %.1f tok/s (%.2f ms) | | |\n", arch.c_str(), dtype.c_str(), n_threads,
              o.n_prompt, j["pp_tok_s"].get<double>(), j["pp_ms"].get<double>());
  std::printf("| %s | %s | %d | tg%d | %.2f ms/token (%.1f tok/s) | %.2f ms/token | %.2f |\n", arch.c_str(),
              dtype.c_str(), n_threads, o.n_gen, j["tg_ms_per_token"].get<double>(),
              j["tg_tok_s"].get<double>(), j["tg_floor_ms_per_token"].get<double>(),
              j["tg_floor_ratio"].get<double>());
  const double mb = j["weight_bytes_per_token"].get<double>() / 1e6, gbs = j["read_bandwidth_gbs"];
  if (j["tensor_parallel"].get<int>() > 1) {
    std::printf("%s: %d ranks, the largest shard streams %.1f MB per token\n", dtype.c_str(),
                j["tensor_parallel"].get<int>(), j["weight_bytes_per_rank"].get<double>() / 1e6);
  }
  if (on_host) {
    std::printf("%s: weights streamed per token: %.1f MB; read bandwidth: %.2f GB/s (%d threads)\n",
                dtype.c_str(), mb, gbs, n_threads);
  } else {
    std::printf(
        "%s: weights streamed per token: %.1f MB; device copy bandwidth (read + write): %.2f GB/s; "
        "load %.1f s\n",
        dtype.c_str(), mb, gbs, j["load_ms"].get<double>() / 1000.0);
  }
  std::string ratios;
  for (const auto& r : j["tg_floor_ratio_per_repetition"]) {
    char value[16];
    std::snprintf(value, sizeof value, "%s%.2f", ratios.empty() ? "" : " ", r.get<double>());
    ratios += value;
  }
  std::printf("%s: floor/measured per repetition (each at its own probe): %s\n", dtype.c_str(),
              ratios.c_str());
  if (j.contains("gpu_power")) {
    for (const auto& p : j["gpu_power"]) {
      std::printf("%s: generation runs, %s; %.1f mJ per generated token\n", dtype.c_str(),
                  p["summary"].get<std::string>().c_str(), p["mj_per_generated_token"].get<double>());
    }
  }
  if (o.profile) {
    std::printf("%s: time per op (all runs, warm-up included): %s\n", dtype.c_str(),
                j["op_profile"].dump().c_str());
  }
}

int run_bench(const BenchOptions& o) {
  BackendOptions backend_options;
  backend_options.n_threads = o.threads;
  backend_options.tune_gemms = !o.no_gemm_tuning;
  // Several dtypes ("q4_k,bf16") load side by side and take turns repetition by repetition, so that each
  // sees the same drifts of a shared machine's memory bandwidth.
  std::vector<ModelRun> runs;
  const std::vector<std::string> dtypes = o.dtypes.empty() ? std::vector<std::string>{""} : o.dtypes;
  for (const std::string& dtype : dtypes) {
    ModelRun run;
    Timer load_timer;
    auto load = [&](Backend& backend, const ParallelOptions& parallel) {
      return load_model(o, dtype, backend, parallel);
    };
    auto group = ModelGroup::create(o.backend, backend_options, o.tensor_parallel, load);
    if (!group) return fail(group.status());
    run.load_ms = load_timer.elapsed_ms();
    run.group = std::move(*group);
    for (int r = 0; r < run.group->world(); ++r) {
      run.group->model(r).set_replay_decode(!o.no_replay);
      run.executors.push_back(std::make_unique<Executor>(run.group->backend(r)));
      run.executors.back()->set_profiling(o.profile);
    }
    runs.push_back(std::move(run));
  }
  Backend& first = runs.front().group->backend(0);
  const ModelConfig& c = runs.front().group->model(0).config();
  bool power_warned = false;
  const int64_t context = o.n_prompt + o.n_gen + 1;

  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab_size - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt)
    t = token(rng);

  const int n_threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  const bool on_host = first.device().kind == DeviceKind::kCpu;
  const size_t probe_bytes = static_cast<size_t>(o.bandwidth_mib) << 20;
  std::unique_ptr<BandwidthProbe> host_probe;
  std::optional<DeviceCopyProbe> device_probe;
  if (on_host) {
    host_probe = std::make_unique<BandwidthProbe>(probe_bytes, n_threads);
    if (!host_probe->ok()) return fail(resource_exhausted("cannot allocate the bandwidth probe's buffer"));
  } else {
    auto p = DeviceCopyProbe::create(first, probe_bytes);  // one GPU's: every rank reads its own
    if (!p) return fail(p.status());
    device_probe = std::move(*p);
  }
  auto measure_bandwidth = [&]() -> Expected<double> {
    if (host_probe) return host_probe->measure();
    return device_probe->measure();
  };
  // Each step ends with its logits on the host, as a generation step does (and this waits for a GPU).
  std::vector<float> logits_row(static_cast<size_t>(c.vocab_size));
  const TensorView row_view{logits_row.data(), DType::kF32, Shape{c.vocab_size}, Device{}};
  for (int r = 0; r < o.repeats + 1; ++r) {  // the first round warms caches and the arena, and is dropped
    for (ModelRun& run : runs) {
      ModelGroup& group = *run.group;
      if (r > 0) {
        auto bw = measure_bandwidth();
        if (!bw) return fail(bw.status());
        run.bandwidths.push_back(*bw);
      }
      std::vector<KvCache> caches;
      for (int rank = 0; rank < group.world(); ++rank) {
        const Model& m = group.model(rank);
        auto cache = KvCache::create(group.backend(rank), m.local_config(), context, m.kv_dtype());
        if (!cache) return fail(cache.status());
        caches.push_back(std::move(*cache));
      }
      // One forward pass on every rank at once (their collectives meet); rank 0's logits to the host.
      std::vector<TensorView> rank_logits(static_cast<size_t>(group.world()));
      auto forward = [&](std::span<const int32_t> tokens) -> Status {
        AUTOGLM_RETURN_IF_ERROR(group.run([&](int rank) -> Status {
          const auto i = static_cast<size_t>(rank);
          AUTOGLM_ASSIGN_OR_RETURN(rank_logits[i],
                                   group.model(rank).forward(*run.executors[i], caches[i], tokens));
          return Status::ok();
        }));
        return group.backend(0).copy(row_view, rank_logits[0]);
      };
      Timer t;
      if (o.n_prompt > 0) {
        if (Status s = forward(prompt); !s) return fail(s);
        if (r > 0) run.pp_ms.push_back(t.elapsed_ms());
      }
      std::vector<double> rep_ms;
      int32_t next = token(rng);
      GenerationPower power(group, r > 0 && !on_host ? o.power_sample_ms : 0, &power_warned);
      for (int i = 0; i < o.n_gen; ++i) {
        Timer step;
        if (Status s = forward(std::span<const int32_t>(&next, 1)); !s) return fail(s);
        rep_ms.push_back(step.elapsed_ms());
        next = token(rng);
      }
      power.stop(&run.power);
      if (r == 0 || rep_ms.empty()) continue;
      run.tg_ms.insert(run.tg_ms.end(), rep_ms.begin(), rep_ms.end());
      const double floor_ms =
          1000.0 * static_cast<double>(streamed_bytes(group, on_host)) / run.bandwidths.back();
      run.rep_ratios.push_back(floor_ms / median(rep_ms));
    }
  }

  std::vector<nlohmann::json> reports;
  for (const ModelRun& run : runs)
    reports.push_back(report(o, run, on_host, n_threads));
  if (o.json) {
    const nlohmann::json out = reports.size() == 1 ? reports.front() : nlohmann::json(reports);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("| model | dtype | threads | test | result | floor | floor/measured |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const nlohmann::json& j : reports)
    print_rows(o, j, on_host);
  return 0;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt-processing and generation speed");
  cmd->add_option("-m,--model", o->model, "HF model directory");
  cmd->add_option("--config", o->config, "config.json describing the model shape (with --random-weights)");
  cmd->add_flag("--random-weights", o->random_weights, "build random weights in memory");
  cmd->add_option(
         "--dtype", o->dtypes,
         "weight dtype: f32, f16, bf16, q8_0, q4_k... (random default: bf16); a comma-separated list "
         "loads one model per dtype and alternates their repetitions")
      ->delimiter(',');
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-r,--repetitions", o->repeats, "timed repetitions")->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0 = all cores), shared out among the ranks");
  cmd->add_option("--tensor-parallel", o->tensor_parallel,
                  "ranks each model is split over (GPUs from device 0 up; on the CPU, groups of threads)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "buffer size of the bandwidth measurement");
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
  cmd->add_flag("--profile", o->profile, "time every op (adds a synchronization per op)");
  cmd->add_option("--backend", o->backend, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--no-graphs", o->no_replay,
                "launch every kernel of a decode step instead of replaying a CUDA graph");
  cmd->add_option("--power-sample-ms", o->power_sample_ms,
                  "period of the GPU power and SM clock samples over the generation runs (NVML; 0: none)")
      ->check(CLI::Range(0, 60000));
  cmd->add_flag("--no-gemm-tuning", o->no_gemm_tuning,
                "take cuBLASLt's first algorithm instead of timing its candidates per row-count bucket");
  cmd->callback([o] { set_exit_code(run_bench(*o)); });
}

}  // namespace autoglm::cli

// autoglm serve: the OpenAI-compatible HTTP server over one model.
//
// Shutdown: SIGTERM or SIGINT stops accepting connections and new requests (503, /ready fails), waits for
// the requests in flight to finish (at most --drain-timeout seconds), then exits; a second signal exits at
// once. Signals are taken by one thread with sigwait, so no handler runs inside the engine or I/O threads.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "autoglm/async_engine.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "http/http_server.h"
#include "hub/model_spec.h"
#include "openai_service.h"

namespace autoglm::cli {
namespace {

struct ServeCliOptions {
  std::string model;
  std::string hf_repo;
  std::string served_model_name;
  std::string tokenizer;
  std::string chat_template;
  std::string random_weights;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string port_file;
  std::vector<std::string> api_keys;
  int64_t max_queue = 1024;
  int http_threads = 1;
  int drain_timeout_s = 30;
  size_t max_body_bytes = size_t{8} << 20;
  bool log_prompts = false;
  std::string backend = "cpu";
  std::string dtype;
  int threads = 0;
  int tensor_parallel = 1;
  int64_t max_context = 0;
  bool no_gemm_tuning = false;
  ServeOptions serve;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int run_serve(const ServeCliOptions& o) {
  const sigset_t signals = block_shutdown_signals();

  EngineOptions engine_options;
  if (o.random_weights.empty()) {
    Expected<std::string> path = resolve_model_path(o.model, o.hf_repo, HubOptions{});
    if (!path) return fail(path.status());
    engine_options.model_path = *path;
  }
  engine_options.tokenizer_path = o.tokenizer;
  engine_options.chat_template_file = o.chat_template;
  engine_options.random_weights_config = o.random_weights;
  engine_options.backend = o.backend;
  engine_options.weight_dtype = o.dtype;
  engine_options.n_threads = o.threads;
  engine_options.tensor_parallel = o.tensor_parallel;
  engine_options.max_context = o.max_context;
  engine_options.tune_gemms = !o.no_gemm_tuning;
  std::unique_ptr<AsyncEngine> engine;
  if (Status s = AsyncEngine::create(engine_options, o.serve, &engine); !s) return fail(s);
  const EngineStats pool = engine->stats();
  spdlog::info("KV cache: {} blocks of {} tokens ({} tokens), {}", pool.kv_blocks_total, pool.kv_block_size,
               int64_t{pool.kv_blocks_total} * pool.kv_block_size, pool.kv_cache_dtype);

  server::ServiceOptions service_options;
  service_options.model_name = !o.served_model_name.empty() ? o.served_model_name
                               : !o.hf_repo.empty()         ? o.hf_repo
                               : !o.model.empty()           ? o.model
                                                            : o.random_weights;
  service_options.api_keys = o.api_keys;
  if (const char* key = std::getenv("AUTOGLM_API_KEY"); key != nullptr && *key != '\0')
    service_options.api_keys.emplace_back(key);
  service_options.max_in_flight = o.serve.max_num_seqs + o.max_queue;
  service_options.log_prompts = o.log_prompts;
  server::OpenAiService service(*engine, service_options);

  server::HttpServerOptions http_options;
  http_options.host = o.host;
  http_options.port = static_cast<uint16_t>(o.port);
  http_options.io_threads = o.http_threads;
  http_options.max_body_bytes = o.max_body_bytes;
  std::unique_ptr<server::HttpServer> http;
  if (Status s = server::HttpServer::create(
          http_options,
          [&service](server::HttpRequest request, std::shared_ptr<server::ResponseWriter> writer) {
            service.handle(std::move(request), std::move(writer));
          },
          &http);
      !s) {
    return fail(s);
  }
  spdlog::info("serving {} on http://{}:{} (model '{}')",
               engine_options.model_path.empty() ? o.random_weights : engine_options.model_path, o.host,
               http->port(), service_options.model_name);
  if (!o.port_file.empty()) std::ofstream(o.port_file) << http->port() << "\n";

  std::atomic<bool> stopped{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopped) return;
    spdlog::info("signal {}: draining {} request(s) in flight", sig, service.in_flight());
    service.begin_drain();
    http->stop_accepting();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.drain_timeout_s);
    // A second signal ends the wait.
    std::thread second([&] {
      int again = 0;
      sigwait(&signals, &again);
      stopped = true;
    });
    second.detach();
    while (service.in_flight() > 0 && !stopped && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // Let the last responses leave the socket buffers of the I/O threads.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stopped = true;
    http->stop();
  });
  http->run();
  if (!stopped) {
    // run() ended without a signal (cannot happen without stop()): release the signal thread.
    stopped = true;
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeCliOptions>();
  CLI::App* cmd = app.add_subcommand("serve",
                                     "OpenAI-compatible HTTP server (/v1/chat/completions, "
                                     "/v1/completions, /metrics, ...)");
  // --config belongs to the main app (CLI11 reads config files there), reached through fallthrough; the file
  // holds a [serve] table of these options by their long names.
  cmd->fallthrough();
  cmd->add_option("-m,--model", o->model, "HF model folder or .gguf file");
  cmd->add_option("--hf-repo", o->hf_repo,
                  "org/name[:FILE] on the Hugging Face hub, downloaded into its cache");
  cmd->add_option("--served-model-name", o->served_model_name,
                  "model id of the API (default: -m or --hf-repo)");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer folder or file (default: the model's)");
  cmd->add_option("--chat-template", o->chat_template, "Jinja chat template replacing the model's");
  cmd->add_option("--random-weights", o->random_weights,
                  "config.json of a model with random weights (benchmarks)");
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--port-file", o->port_file, "write the bound port to this file once listening");
  cmd->add_option("--api-key", o->api_keys, "accepted bearer key (repeatable; also $AUTOGLM_API_KEY)");
  cmd->add_option("--max-queue", o->max_queue, "requests that may wait beyond --max-num-seqs; more get 429")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--http-threads", o->http_threads, "I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--drain-timeout", o->drain_timeout_s, "seconds to finish requests in flight on SIGTERM")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "larger request bodies get 413")
      ->capture_default_str();
  cmd->add_flag("--log-prompts", o->log_prompts, "include prompt text in the request log");
  cmd->add_option("--backend", o->backend, "cpu or cuda")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "weight dtype: f32, f16, bf16");
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0: all cores)");
  cmd->add_option("--tensor-parallel", o->tensor_parallel,
                  "split the model over N ranks: N GPUs (NCCL), or N CPU ranks sharing the cores")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-context", o->max_context, "positions per sequence (0: the model's, at most 4096)");
  cmd->add_option("--kv-block-size", o->serve.kv_block_size)->capture_default_str();
  cmd->add_option("--kv-blocks", o->serve.kv_blocks, "KV blocks (0: from free memory)")
      ->capture_default_str();
  cmd->add_option("--kv-cache-dtype", o->serve.kv_cache_dtype,
                  "KV cache element type: auto (the model's), f32, bf16, f16 or fp8 (e4m3)")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", o->serve.max_num_seqs)->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", o->serve.max_num_batched_tokens)->capture_default_str();
  cmd->add_flag("!--no-prefix-caching", o->serve.enable_prefix_caching, "disable automatic prefix caching");
  cmd->add_flag("--no-gemm-tuning", o->no_gemm_tuning,
                "take cuBLASLt's first algorithm instead of timing its candidates per row-count bucket");
  cmd->callback([o] {
    if (o->model.empty() && o->hf_repo.empty() && o->random_weights.empty()) {
      set_exit_code(fail(invalid_argument("serve: give -m MODEL, --hf-repo org/name or --random-weights")));
      return;
    }
    set_exit_code(run_serve(*o));
  });
}

}  // namespace autoglm::cli

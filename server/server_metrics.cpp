#include "server_metrics.h"

#include <utility>
#include <vector>

namespace autoglm::server {
namespace {

// vLLM's bounds, extended below a millisecond: a small model on a GPU produces tokens faster than its
// smallest bucket.
const std::vector<double> kTtftBuckets = {0.001, 0.0025, 0.005, 0.01, 0.02,  0.04, 0.06, 0.08,
                                          0.1,   0.25,   0.5,   0.75, 1.0,   2.5,  5.0,  7.5,
                                          10.0,  20.0,   40.0,  80.0, 160.0, 640.0};
const std::vector<double> kItlBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03,
                                         0.04,   0.05,  0.075,  0.1,   0.15,   0.2,  0.3,   0.4,  0.5,   0.75,
                                         1.0,    2.5,   5.0,    7.5,   10.0,   20.0, 40.0,  80.0};
const std::vector<double> kDelayBuckets = {1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,   7.5e-4,
                                           1e-3,   1.5e-3, 2e-3, 3e-3, 5e-3,   7.5e-3, 1e-2,
                                           2.5e-2, 5e-2,   0.1,  0.25, 0.5,    1.0};
const std::vector<double> kRequestBuckets = {0.01, 0.05, 0.1,   0.3,   0.5,   0.8,   1.0,    1.5,
                                             2.0,  2.5,  5.0,   10.0,  15.0,  20.0,  30.0,   40.0,
                                             50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

}  // namespace

ServerMetrics::ServerMetrics(const AsyncEngine& engine, std::string model_name,
                             std::unique_ptr<GpuPowerReader> power)
    : engine_(engine),
      labels_{{"model_name", std::move(model_name)}},
      ttft_(registry_.histogram("autoglm:time_to_first_token_seconds",
                                "Histogram of time to first token in seconds.", kTtftBuckets, labels_)),
      itl_(registry_.histogram("autoglm:inter_token_latency_seconds",
                               "Histogram of inter-token latency in seconds.", kItlBuckets, labels_)),
      e2e_(registry_.histogram("autoglm:e2e_request_latency_seconds",
                               "Histogram of end to end request latency in seconds.", kRequestBuckets,
                               labels_)),
      queue_(registry_.histogram("autoglm:request_queue_time_seconds",
                                 "Histogram of time spent waiting for the first step, in seconds.",
                                 kRequestBuckets, labels_)),
      stream_delay_(
          registry_.histogram("autoglm:http_stream_delay_seconds",
                              "Time from a token leaving the engine to its SSE chunk being queued on the "
                              "connection, in seconds.",
                              kDelayBuckets, labels_)),
      prompt_tokens_(
          registry_.counter("autoglm:prompt_tokens_total", "Number of prefill tokens processed.", labels_)),
      generation_tokens_(registry_.counter("autoglm:generation_tokens_total",
                                           "Number of generation tokens processed.", labels_)),
      running_(registry_.gauge("autoglm:num_requests_running",
                               "Number of requests in model execution batches.", labels_)),
      waiting_(registry_.gauge("autoglm:num_requests_waiting", "Number of requests waiting to be processed.",
                               labels_)),
      kv_usage_(registry_.gauge("autoglm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
                                labels_)),
      prefix_queries_(registry_.counter("autoglm:prefix_cache_queries_total",
                                        "Prefix cache queries, in terms of number of queried tokens.",
                                        labels_)),
      prefix_hits_(registry_.counter("autoglm:prefix_cache_hits_total",
                                     "Prefix cache hits, in terms of number of cached tokens.", labels_)),
      preemptions_(
          registry_.counter("autoglm:num_preemptions_total", "Cumulative number of preemptions.", labels_)),
      steps_(registry_.counter("autoglm:engine_steps_total", "Engine steps (one batched forward each).",
                               labels_)),
      step_seconds_(
          registry_.counter("autoglm:engine_step_seconds_total", "Wall time of all engine steps.", labels_)),
      gpu_power_(registry_, labels_, std::move(power)) {
  // The success counter family exists from the start, so a scrape before the first request sees it.
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    Labels l = labels_;
    l.emplace_back("finished_reason", reason);
    registry_.counter("autoglm:request_success_total", "Count of finished requests by finish reason.", l);
  }
}

void ServerMetrics::observe_time_to_first_token(double seconds) {
  ttft_.observe(seconds);
}
void ServerMetrics::observe_inter_token_latency(double seconds) {
  itl_.observe(seconds);
}
void ServerMetrics::observe_e2e_latency(double seconds) {
  e2e_.observe(seconds);
}
void ServerMetrics::observe_queue_time(double seconds) {
  queue_.observe(seconds);
}
void ServerMetrics::observe_stream_delay(double seconds) {
  stream_delay_.observe(seconds);
}

void ServerMetrics::request_finished(const std::string& finished_reason, int64_t prompt_tokens,
                                     int64_t generation_tokens) {
  Labels l = labels_;
  l.emplace_back("finished_reason", finished_reason);
  registry_.counter("autoglm:request_success_total", "Count of finished requests by finish reason.", l).inc();
  prompt_tokens_.inc(static_cast<double>(prompt_tokens));
  generation_tokens_.inc(static_cast<double>(generation_tokens));
}

void ServerMetrics::http_response(int status) {
  registry_
      .counter("autoglm:http_responses_total", "HTTP responses by status code.",
               {{"status", std::to_string(status)}})
      .inc();
}

std::string ServerMetrics::render() {
  const EngineStats s = engine_.stats();
  running_.set(static_cast<double>(s.n_running));
  waiting_.set(static_cast<double>(s.n_waiting));
  kv_usage_.set(s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
  {
    std::lock_guard<std::mutex> lock(engine_totals_mutex_);
    prefix_queries_.inc(static_cast<double>(s.prefix_queries - last_.prefix_queries));
    prefix_hits_.inc(static_cast<double>(s.prefix_hits - last_.prefix_hits));
    preemptions_.inc(static_cast<double>(s.n_preemptions - last_.n_preemptions));
    steps_.inc(static_cast<double>(s.n_steps - last_.n_steps));
    step_seconds_.inc((s.step_ms - last_.step_ms) / 1000.0);
    last_ = s;
  }
  gpu_power_.refresh();
  return registry_.render();
}

}  // namespace autoglm::server

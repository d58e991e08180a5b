// The server's Prometheus metrics, named as vLLM names them under the "autoglm:" prefix so existing
// dashboards and alerts carry over: request latencies (TTFT, inter-token, end-to-end, queue) as histograms,
// request and token counters, and the engine's gauges (running / waiting requests, KV usage, prefix cache)
// read from AsyncEngine::stats() at each scrape, and the GPUs' power and clock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "autoglm/async_engine.h"
#include "gpu_power_metrics.h"
#include "metrics/metrics.h"

namespace autoglm::server {

class ServerMetrics {
 public:
  // `power`: the GPUs' power reader (gpu_power_metrics.h), or null for none.
  ServerMetrics(const AsyncEngine& engine, std::string model_name, std::unique_ptr<GpuPowerReader> power);

  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);
  void observe_e2e_latency(double seconds);
  void observe_queue_time(double seconds);
  // The HTTP layer's share of a streamed token: engine event -> its chunk queued on the socket.
  void observe_stream_delay(double seconds);
  // finished_reason: "stop", "length", "abort" or "error".
  void request_finished(const std::string& finished_reason, int64_t prompt_tokens, int64_t generation_tokens);
  void http_response(int status);

  // The exposition text, with the engine's figures refreshed.
  std::string render();

 private:
  const AsyncEngine& engine_;
  Labels labels_;
  MetricsRegistry registry_;
  Histogram& ttft_;
  Histogram& itl_;
  Histogram& e2e_;
  Histogram& queue_;
  Histogram& stream_delay_;
  Counter& prompt_tokens_;
  Counter& generation_tokens_;
  Gauge& running_;
  Gauge& waiting_;
  Gauge& kv_usage_;
  Counter& prefix_queries_;
  Counter& prefix_hits_;
  Counter& preemptions_;
  Counter& steps_;
  Counter& step_seconds_;
  GpuPowerMetrics gpu_power_;
  // Engine totals already added to the counters above (the engine reports totals, counters take increments).
  std::mutex engine_totals_mutex_;
  EngineStats last_;
};

}  // namespace autoglm::server

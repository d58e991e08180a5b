// The OpenAI-compatible API over one AsyncEngine: routing, authentication, admission (queue limit, drain),
// prompt preparation (tokenizer, chat template), and the small endpoints (/health, /ready, /v1/models,
// /tokenize, /detokenize, /metrics). Generation requests are handed to a CompletionJob each. Uses only the
// engine's public API.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "api/completion_request.h"
#include "autoglm/async_engine.h"
#include "http/http_types.h"
#include "server_metrics.h"

namespace autoglm::server {

struct ServiceOptions {
  std::string model_name;             // the id clients pass as "model" and /v1/models lists
  std::vector<std::string> api_keys;  // empty: no authentication
  // Generation requests in flight at most (running + waiting); more get 429 with Retry-After.
  int64_t max_in_flight = 1024;
  RequestLimits limits;
  bool log_prompts = false;  // prompt text in the request log (off: ids and sizes only)
};

class OpenAiService {
 public:
  OpenAiService(AsyncEngine& engine, ServiceOptions options);

  // The HttpHandler.
  void handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);
  // Stops admitting generation requests (503) and reports not ready; those in flight go on.
  void begin_drain() { draining_ = true; }
  int64_t in_flight() const { return in_flight_.load(); }
  ServerMetrics& metrics() { return metrics_; }

 private:
  void respond(ResponseWriter& writer, int status, const std::string& content_type, const std::string& body,
               HeaderList headers = {});
  void respond_error(ResponseWriter& writer, const ApiError& error);
  bool authorized(const HttpRequest& request) const;
  void completions(HttpRequest& request, std::shared_ptr<ResponseWriter> writer, Endpoint endpoint);
  void tokenize(const HttpRequest& request, ResponseWriter& writer);
  void detokenize(const HttpRequest& request, ResponseWriter& writer);
  void models(const HttpRequest& request, ResponseWriter& writer);

  AsyncEngine& engine_;
  ServiceOptions options_;
  ServerMetrics metrics_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  int64_t created_ = 0;
};

}  // namespace autoglm::server

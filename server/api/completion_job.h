// One API request to /v1/completions or /v1/chat/completions, from submission to the last byte: it submits
// one engine request per choice (prompts x n), turns the engine's events into OpenAI responses (one JSON
// body, or SSE chunks ending in "data: [DONE]"), cancels its engine requests when the client disconnects, and
// reports its latencies to the metrics. Every method but start() runs on the connection's executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/completion_request.h"
#include "autoglm/async_engine.h"
#include "http/http_types.h"

namespace autoglm::server {

class ServerMetrics;

// A prompt ready for the engine: its ids, and its text for echo.
struct PreparedPrompt {
  std::vector<int32_t> ids;
  std::string text;
};

struct JobContext {
  AsyncEngine* engine = nullptr;
  ServerMetrics* metrics = nullptr;
  std::string model_name;
  std::string request_id;  // also the response's "id"
  std::chrono::steady_clock::time_point received;
  std::function<void()> on_done;  // once, after the response ended (in-flight accounting)
};

class CompletionJob : public std::enable_shared_from_this<CompletionJob> {
 public:
  CompletionJob(CompletionRequest request, std::vector<PreparedPrompt> prompts, JobContext context,
                std::shared_ptr<ResponseWriter> writer);
  ~CompletionJob();
  // Submits every choice; on failure answers with the error (nothing stays submitted).
  void start();

 private:
  struct Choice;
  // emitted: when the engine thread handed the event over (the HTTP layer's delay is measured from there).
  void on_event(size_t choice, const RequestEvent& event, std::chrono::steady_clock::time_point emitted);
  void stream_event(Choice& c, const RequestEvent& event, const std::string& text,
                    std::chrono::steady_clock::time_point emitted);
  void finish_response();
  void fail(const ApiError& error);
  void cancel_all();
  void done();
  std::string chunk_base() const;

  CompletionRequest request_;
  std::vector<PreparedPrompt> prompts_;
  JobContext context_;
  std::shared_ptr<ResponseWriter> writer_;
  std::vector<Choice> choices_;
  size_t n_finished_ = 0;
  bool disconnected_ = false;
  bool ended_ = false;
  std::optional<ApiError> start_error_;  // a choice the engine refused
  int64_t created_ = 0;
  std::string chunk_head_;  // "data: {" and the fields every chunk of this response repeats
};

}  // namespace autoglm::server

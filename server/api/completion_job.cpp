#include "api/completion_job.h"

#include <chrono>
#include <limits>

#include <nlohmann/json.hpp>

#include "api/openai_format.h"
#include "server_metrics.h"

namespace autoglm::server {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

struct CompletionJob::Choice {
  size_t prompt = 0;  // index into prompts_
  int32_t index = 0;  // the choice's "index" in the response
  RequestId engine_id = 0;
  bool submitted = false;
  bool started = false;  // first event seen
  bool finished = false;
  bool role_sent = false;  // chat streams open each choice with the assistant role
  FinishReason reason = FinishReason::kStop;
  Status error;
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<TokenLogprobs> logprobs;
  int64_t logprob_text_offset = 0;  // completions: text_offset of the next token
  int32_t cached_prompt_tokens = 0;
  Clock::time_point last_token;
};

CompletionJob::CompletionJob(CompletionRequest request, std::vector<PreparedPrompt> prompts,
                             JobContext context, std::shared_ptr<ResponseWriter> writer)
    : request_(std::move(request)),
      prompts_(std::move(prompts)),
      context_(std::move(context)),
      writer_(std::move(writer)) {}

CompletionJob::~CompletionJob() = default;

void CompletionJob::start() {
  created_ =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  chunk_head_ = "data: {\"id\":" + dump_json(context_.request_id) + ",\"object\":" + dump_json(chunk_base()) +
                ",\"created\":" + std::to_string(created_) + ",\"model\":" + dump_json(context_.model_name) +
                ",\"choices\":[{\"index\":";
  for (size_t p = 0; p < prompts_.size(); ++p) {
    for (int32_t j = 0; j < request_.n; ++j) {
      Choice c;
      c.prompt = p;
      c.index = static_cast<int32_t>(p) * request_.n + j;
      choices_.push_back(std::move(c));
    }
  }
  auto self = shared_from_this();
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& c = choices_[i];
    Request r;
    r.prompt = prompts_[c.prompt].ids;
    r.max_tokens = request_.max_tokens.value_or(std::numeric_limits<int32_t>::max());
    r.sampling = request_.sampling;
    // n choices from one seed: reproducible, yet not n copies of one sample.
    if (r.sampling.seed)
      *r.sampling.seed += static_cast<uint64_t>(c.index - static_cast<int32_t>(c.prompt) * request_.n);
    r.stop_token_ids = request_.stop_token_ids;
    r.stop_strings = request_.stop;
    r.ignore_eos = request_.ignore_eos;
    r.priority = request_.priority;
    r.cache_salt = request_.cache_salt;
    r.skip_special_tokens = request_.skip_special_tokens;
    r.logprobs = request_.logprobs;
    RequestId id = 0;
    const Status s = context_.engine->submit(
        std::move(r),
        [self, i](const RequestEvent& event) {
          // Engine thread: hand the event to the connection's executor and return.
          self->writer_->post(
              [self, i, event, emitted = Clock::now()] { self->on_event(i, event, emitted); });
        },
        &id);
    if (!s.is_ok()) {
      // Nothing was sent yet: the whole request fails with this error once the choices already submitted
      // have come back cancelled.
      start_error_ = from_status(s);
      for (size_t k = i; k < choices_.size(); ++k)
        choices_[k].finished = true;
      n_finished_ += choices_.size() - i;
      cancel_all();
      if (n_finished_ == choices_.size()) finish_response();
      return;
    }
    c.engine_id = id;
    c.submitted = true;
  }
  writer_->on_disconnect([self] {
    self->disconnected_ = true;
    self->cancel_all();
  });
  if (request_.stream) writer_->start_stream(200, "text/event-stream");
}

std::string CompletionJob::chunk_base() const {
  return request_.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion";
}

void CompletionJob::on_event(size_t i, const RequestEvent& event, Clock::time_point emitted) {
  Choice& c = choices_[i];
  if (c.finished) return;
  const Clock::time_point now = Clock::now();
  if (!c.started) {
    c.started = true;
    c.cached_prompt_tokens = event.cached_prompt_tokens;
    context_.metrics->observe_queue_time(event.queue_ms / 1000.0);
  }
  if (!event.tokens.empty()) {
    if (c.tokens.empty()) {
      context_.metrics->observe_time_to_first_token(seconds_between(context_.received, now));
    } else {
      context_.metrics->observe_inter_token_latency(seconds_between(c.last_token, now));
    }
    c.last_token = now;
  }
  std::string text = event.text;
  if (request_.echo && c.tokens.empty() && c.text.empty()) text = prompts_[c.prompt].text + text;
  c.tokens.insert(c.tokens.end(), event.tokens.begin(), event.tokens.end());
  c.text += text;
  if (event.finished) {
    c.finished = true;
    c.reason = event.finish_reason;
    c.error = event.error;
    ++n_finished_;
    context_.metrics->observe_e2e_latency(seconds_between(context_.received, now));
    context_.metrics->request_finished(
        event.error.is_ok() ? finish_reason_text(event.finish_reason) : "error", event.prompt_tokens,
        static_cast<int64_t>(c.tokens.size()));
  }
  if (request_.stream && !ended_ && !disconnected_) stream_event(c, event, text, emitted);
  if (!request_.stream && request_.logprobs >= 0)
    c.logprobs.insert(c.logprobs.end(), event.logprobs.begin(), event.logprobs.end());
  if (n_finished_ == choices_.size()) finish_response();
}

void CompletionJob::stream_event(Choice& c, const RequestEvent& event, const std::string& text,
                                 Clock::time_point emitted) {
  if (!event.error.is_ok()) return;  // reported once for the whole response in finish_response
  const bool chat = request_.endpoint == Endpoint::kChat;
  const json finish = event.finished ? json(finish_reason_text(event.finish_reason)) : json(nullptr);
  json logprobs = nullptr;
  if (request_.logprobs >= 0 && !event.tokens.empty()) {
    const Engine& engine = context_.engine->engine();
    // c.tokens already holds these tokens: the one before them is the last earlier token, else the prompt's.
    const size_t before = c.tokens.size() - event.tokens.size();
    const int32_t previous = before > 0 ? c.tokens[before - 1] : prompts_[c.prompt].ids.back();
    if (chat) {
      logprobs = chat_logprobs_json(engine, previous, event.tokens, event.logprobs);
    } else {
      logprobs =
          completion_logprobs_json(engine, previous, event.tokens, event.logprobs, c.logprob_text_offset);
      for (const json& t : logprobs["tokens"])
        c.logprob_text_offset += static_cast<int64_t>(t.get<std::string>().size());
    }
  }
  // Nothing to say: tokens whose text is still held back (a partial character, a possible stop string).
  if (text.empty() && finish.is_null() && logprobs.is_null() && (!chat || c.role_sent)) return;

  // The chunk is assembled as text around the parts fixed for the whole response: this runs once per token
  // per stream, and building a JSON tree for each would cost the I/O thread more than the engine's step.
  std::string out = chunk_head_;
  out += std::to_string(c.index);
  if (chat) {
    out += ",\"delta\":{";
    if (!c.role_sent) {
      out += "\"role\":\"assistant\",\"content\":" + dump_json(text);
      c.role_sent = true;
    } else if (!text.empty()) {
      out += "\"content\":" + dump_json(text);
    }
    out += "}";
  } else {
    out += ",\"text\":" + dump_json(text);
  }
  out += ",\"logprobs\":" + (logprobs.is_null() ? std::string("null") : dump_json(logprobs));
  out += ",\"finish_reason\":" + (finish.is_null() ? std::string("null") : dump_json(finish));
  out += request_.include_usage ? "}],\"usage\":null}\n\n" : "}]}\n\n";
  writer_->write(std::move(out));
  context_.metrics->observe_stream_delay(seconds_between(emitted, Clock::now()));
}

void CompletionJob::finish_response() {
  if (ended_) return;
  ended_ = true;
  if (start_error_) {
    fail(*start_error_);
    return done();
  }
  int64_t prompt_tokens = 0, completion_tokens = 0, cached = 0;
  for (size_t p = 0; p < prompts_.size(); ++p)
    prompt_tokens += static_cast<int64_t>(prompts_[p].ids.size());
  const Status* error = nullptr;
  for (const Choice& c : choices_) {
    completion_tokens += static_cast<int64_t>(c.tokens.size());
    // Each prompt counts once; its first choice tells how much of it came from the cache.
    if (c.index % request_.n == 0) cached += c.cached_prompt_tokens;
    if (!c.error.is_ok() && error == nullptr) error = &c.error;
  }
  const json usage = usage_json(prompt_tokens, completion_tokens, cached);
  const bool chat = request_.endpoint == Endpoint::kChat;

  if (request_.stream) {
    if (error != nullptr) {
      writer_->write(sse_event(json::parse(from_status(*error).body())));
    } else if (request_.include_usage) {
      writer_->write(sse_event({{"id", context_.request_id},
                                {"object", chunk_base()},
                                {"created", created_},
                                {"model", context_.model_name},
                                {"choices", json::array()},
                                {"usage", usage}}));
    }
    writer_->write("data: [DONE]\n\n");
    writer_->end();
    return done();
  }

  if (error != nullptr) {
    fail(from_status(*error));
    return done();
  }
  const Engine& engine = context_.engine->engine();
  json out_choices = json::array();
  for (const Choice& c : choices_) {
    json logprobs = nullptr;
    if (request_.logprobs >= 0) {
      const int32_t previous = prompts_[c.prompt].ids.back();
      logprobs = chat ? chat_logprobs_json(engine, previous, c.tokens, c.logprobs)
                      : completion_logprobs_json(
                            engine, previous, c.tokens, c.logprobs,
                            request_.echo ? static_cast<int64_t>(prompts_[c.prompt].text.size()) : 0);
    }
    json choice = {
        {"index", c.index}, {"logprobs", logprobs}, {"finish_reason", finish_reason_text(c.reason)}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    out_choices.push_back(std::move(choice));
  }
  const json body = {{"id", context_.request_id},
                     {"object", chat ? "chat.completion" : "text_completion"},
                     {"created", created_},
                     {"model", context_.model_name},
                     {"choices", std::move(out_choices)},
                     {"usage", usage}};
  writer_->respond(200, "application/json", dump_json(body));
  done();
}

void CompletionJob::fail(const ApiError& error) {
  HeaderList headers;
  if (error.retry_after_s) headers.emplace_back("Retry-After", std::to_string(*error.retry_after_s));
  writer_->respond(error.http_status, "application/json", error.body(), std::move(headers));
}

void CompletionJob::cancel_all() {
  for (const Choice& c : choices_)
    if (c.submitted && !c.finished) context_.engine->cancel(c.engine_id);
}

void CompletionJob::done() {
  if (auto fn = std::move(context_.on_done)) {
    context_.on_done = nullptr;
    fn();
  }
}

}  // namespace autoglm::server

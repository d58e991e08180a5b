#include "openai_service.h"

#include <chrono>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/completion_job.h"
#include "api/openai_format.h"

namespace autoglm::server {

using json = nlohmann::json;

namespace {

// Equal-time comparison, so response timing does not reveal how much of a guessed key was right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool is_generation_path(const std::string& path) {
  return path == "/v1/completions" || path == "/v1/chat/completions";
}

// Parses a small JSON body of the utility endpoints; the error names the endpoint.
std::variant<json, ApiError> parse_object(const HttpRequest& request, const RequestLimits& limits) {
  if (json_nesting_depth(request.body) > limits.max_json_depth)
    return invalid_request("The request body nests too deeply.");
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return invalid_request("The request body must be a JSON object.");
  return body;
}

}  // namespace

OpenAiService::OpenAiService(AsyncEngine& engine, ServiceOptions options)
    : engine_(engine),
      options_(std::move(options)),
      metrics_(engine, options_.model_name,
               open_gpu_power_reader(engine.engine().model_info().gpu_pci_bus_ids)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count()) {}

void OpenAiService::respond(ResponseWriter& writer, int status, const std::string& content_type,
                            const std::string& body, HeaderList headers) {
  metrics_.http_response(status);
  writer.respond(status, content_type, body, std::move(headers));
}

void OpenAiService::respond_error(ResponseWriter& writer, const ApiError& error) {
  HeaderList headers;
  if (error.retry_after_s) headers.emplace_back("Retry-After", std::to_string(*error.retry_after_s));
  if (error.http_status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  respond(writer, error.http_status, "application/json", error.body(), std::move(headers));
}

bool OpenAiService::authorized(const HttpRequest& request) const {
  if (options_.api_keys.empty()) return true;
  const std::string& header = request.header("authorization");
  const std::string prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string key = header.substr(prefix.size());
  bool ok = false;
  for (const std::string& k : options_.api_keys)
    ok |= same_secret(key, k);
  return ok;
}

void OpenAiService::handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";  // HEAD: same headers, no body
  const bool post = request.method == "POST";
  if (path == "/health") {
    if (!get) return respond_error(*writer, method_not_allowed(request.method, path));
    return respond(*writer, 200, "application/json", R"({"status":"ok"})");
  }
  if (path == "/ready") {
    if (!get) return respond_error(*writer, method_not_allowed(request.method, path));
    if (draining_) return respond_error(*writer, unavailable("The server is shutting down.", 5));
    return respond(*writer, 200, "application/json", R"({"status":"ready"})");
  }
  if (path == "/metrics") {
    if (!get) return respond_error(*writer, method_not_allowed(request.method, path));
    return respond(*writer, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render());
  }
  const bool known = is_generation_path(path) || path == "/tokenize" || path == "/detokenize" ||
                     path == "/v1/models" || path.rfind("/v1/models/", 0) == 0;
  if (!known) return respond_error(*writer, not_found("No route for " + request.method + " " + path));
  if (!authorized(request)) return respond_error(*writer, unauthorized());
  if (path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
    if (!get) return respond_error(*writer, method_not_allowed(request.method, path));
    return models(request, *writer);
  }
  if (!post) return respond_error(*writer, method_not_allowed(request.method, path));
  if (path == "/tokenize") return tokenize(request, *writer);
  if (path == "/detokenize") return detokenize(request, *writer);
  completions(request, std::move(writer),
              path == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletions);
}

void OpenAiService::models(const HttpRequest& request, ResponseWriter& writer) {
  const json model = {{"id", options_.model_name},
                      {"object", "model"},
                      {"created", created_},
                      {"owned_by", "autoglm"},
                      {"max_model_len", engine_.engine().model_info().max_context}};
  if (request.path == "/v1/models") {
    return respond(writer, 200, "application/json",
                   dump_json({{"object", "list"}, {"data", json::array({model})}}));
  }
  const std::string id = request.path.substr(std::string("/v1/models/").size());
  if (id != options_.model_name)
    return respond_error(writer, not_found("The model '" + id + "' does not exist."));
  respond(writer, 200, "application/json", dump_json(model));
}

void OpenAiService::completions(HttpRequest& request, std::shared_ptr<ResponseWriter> writer,
                                Endpoint endpoint) {
  if (draining_) return respond_error(*writer, unavailable("The server is shutting down.", 5));
  auto parsed = parse_completion_request(request.body, endpoint, options_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return respond_error(*writer, *error);
  CompletionRequest& r = std::get<CompletionRequest>(parsed);
  if (r.model != options_.model_name) {
    ApiError e = not_found("The model '" + r.model + "' does not exist.");
    e.param = "model";
    e.code = "model_not_found";
    return respond_error(*writer, e);
  }
  if (r.echo && r.logprobs >= 0)
    return respond_error(
        *writer, invalid_request("'echo' with 'logprobs' (prompt logprobs) is not supported.", "echo"));

  const Engine& engine = engine_.engine();
  std::vector<PreparedPrompt> prompts;
  if (endpoint == Endpoint::kChat) {
    if (!engine.has_chat_template())
      return respond_error(*writer, invalid_request("The model has no chat template; use /v1/completions or "
                                                    "start the server with --chat-template FILE.",
                                                    "messages"));
    ChatOptions chat;
    chat.add_generation_prompt = r.add_generation_prompt;
    chat.kwargs_json = r.chat_template_kwargs_json;
    PreparedPrompt p;
    if (Status s = engine.apply_chat_template(r.messages_json, r.tools_json, chat, &p.text); !s)
      return respond_error(*writer, invalid_request(s.message(), "messages"));
    if (Status s = engine.tokenize(p.text, /*add_special=*/false, /*parse_special=*/true, &p.ids); !s)
      return respond_error(*writer, from_status(s));
    prompts.push_back(std::move(p));
  } else {
    for (PromptInput& in : r.prompts) {
      PreparedPrompt p;
      if (in.is_ids) {
        p.ids = std::move(in.ids);
        if (r.echo) (void)engine.detokenize(p.ids, false, &p.text);
      } else {
        if (!engine.has_tokenizer())
          return respond_error(
              *writer,
              invalid_request("The model has no tokenizer: send the prompt as token ids.", "prompt"));
        p.text = std::move(in.text);
        if (Status s = engine.tokenize(p.text, /*add_special=*/true, /*parse_special=*/true, &p.ids); !s)
          return respond_error(*writer, from_status(s));
      }
      if (p.ids.empty()) return respond_error(*writer, invalid_request("The prompt is empty.", "prompt"));
      prompts.push_back(std::move(p));
    }
  }

  if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
    in_flight_.fetch_sub(1);
    return respond_error(*writer, queue_full(1));
  }
  JobContext context;
  context.engine = &engine_;
  context.metrics = &metrics_;
  context.model_name = options_.model_name;
  context.request_id = new_response_id(endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl");
  context.received = std::chrono::steady_clock::now();
  size_t prompt_tokens = 0;
  for (const PreparedPrompt& p : prompts)
    prompt_tokens += p.ids.size();
  if (options_.log_prompts) {
    spdlog::info("request {} {} from {} user='{}' prompt_tokens={} n={} max_tokens={} stream={} prompt={}",
                 context.request_id, request.path, request.remote, r.user, prompt_tokens, r.n,
                 r.max_tokens.value_or(-1), r.stream, dump_json(prompts.front().text));
  } else {
    spdlog::info("request {} {} from {} user='{}' prompt_tokens={} n={} max_tokens={} stream={}",
                 context.request_id, request.path, request.remote, r.user, prompt_tokens, r.n,
                 r.max_tokens.value_or(-1), r.stream);
  }
  context.on_done = [this, id = context.request_id, received = context.received] {
    in_flight_.fetch_sub(1);
    spdlog::info(
        "request {} done in {:.1f} ms", id,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - received).count());
  };
  metrics_.http_response(200);
  auto job = std::make_shared<CompletionJob>(std::move(r), std::move(prompts), std::move(context),
                                             std::move(writer));
  job->start();
}

void OpenAiService::tokenize(const HttpRequest& request, ResponseWriter& writer) {
  auto parsed = parse_object(request, options_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return respond_error(writer, *error);
  const json& body = std::get<json>(parsed);
  const Engine& engine = engine_.engine();
  if (!engine.has_tokenizer()) return respond_error(writer, invalid_request("The model has no tokenizer."));
  std::string text;
  bool add_special = true;
  if (body.contains("add_special_tokens")) {
    if (!body["add_special_tokens"].is_boolean())
      return respond_error(writer,
                           invalid_request("'add_special_tokens' must be a boolean.", "add_special_tokens"));
    add_special = body["add_special_tokens"].get<bool>();
  }
  if (body.contains("messages")) {
    auto chat_request = parse_completion_request(dump_json({{"model", ""}, {"messages", body["messages"]}}),
                                                 Endpoint::kChat, options_.limits);
    if (auto* error = std::get_if<ApiError>(&chat_request)) return respond_error(writer, *error);
    if (!engine.has_chat_template())
      return respond_error(writer, invalid_request("The model has no chat template."));
    if (Status s = engine.apply_chat_template(std::get<CompletionRequest>(chat_request).messages_json, "", {},
                                              &text);
        !s)
      return respond_error(writer, invalid_request(s.message(), "messages"));
    add_special = false;
  } else if (body.contains("prompt") && body["prompt"].is_string()) {
    text = body["prompt"].get<std::string>();
  } else {
    return respond_error(writer, invalid_request("'prompt' (a string) or 'messages' is required.", "prompt"));
  }
  std::vector<int32_t> ids;
  if (Status s = engine.tokenize(text, add_special, true, &ids); !s)
    return respond_error(writer, from_status(s));
  respond(writer, 200, "application/json",
          dump_json(
              {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", engine.model_info().max_context}}));
}

void OpenAiService::detokenize(const HttpRequest& request, ResponseWriter& writer) {
  auto parsed = parse_object(request, options_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return respond_error(writer, *error);
  const json& body = std::get<json>(parsed);
  const Engine& engine = engine_.engine();
  if (!engine.has_tokenizer()) return respond_error(writer, invalid_request("The model has no tokenizer."));
  if (!body.contains("tokens") || !body["tokens"].is_array())
    return respond_error(writer, invalid_request("'tokens' (an array of token ids) is required.", "tokens"));
  std::vector<int32_t> ids;
  const int64_t vocab = engine.model_info().vocab_size;
  for (const json& t : body["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
      return respond_error(
          writer, invalid_request("'tokens' must hold ids in [0, " + std::to_string(vocab) + ").", "tokens"));
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  std::string text;
  if (Status s = engine.detokenize(ids, false, &text); !s) return respond_error(writer, from_status(s));
  respond(writer, 200, "application/json", dump_json({{"prompt", text}}));
}

}  // namespace autoglm::server

// autoglm generate: one prompt (text or ids), N tokens; the generated text streams to stdout (ids when the
// model has no tokenizer, or with --print-ids), timing to stderr.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "autoglm/engine.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace autoglm::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt_text;
  std::string prompt_ids;
  int n_tokens = 32;
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  int threads = 0;
  int tensor_parallel = 1;
  std::string dtype;
  std::string tokenizer;
  bool ignore_eos = false;
  bool print_ids = false;
  bool has_text_prompt = false;  // -p given, possibly empty (generation from BOS)
  bool chat = false;             // -p is a user message, rendered through the chat template
  std::string system;
  std::string chat_template_file;
  std::string chat_kwargs;
  std::string backend = "cpu";
};

// The prompt text of a one-turn chat: [system], user, then the assistant's generation prompt.
Expected<std::string> chat_prompt(const Engine& engine, const GenerateOptions& o) {
  nlohmann::json messages = nlohmann::json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  messages.push_back({{"role", "user"}, {"content", o.prompt_text}});
  ChatOptions chat;
  chat.kwargs_json = o.chat_kwargs;
  std::string prompt;
  if (Status s = engine.apply_chat_template(messages.dump(), "", chat, &prompt); !s) return s;
  return prompt;
}

int run_generate(const GenerateOptions& o) {
  EngineOptions options;
  options.model_path = o.model;
  options.tokenizer_path = o.tokenizer;
  options.n_threads = o.threads;
  options.tensor_parallel = o.tensor_parallel;
  options.weight_dtype = o.dtype;
  options.backend = o.backend;
  options.chat_template_file = o.chat_template_file;
  std::unique_ptr<Engine> engine;
  if (Status s = Engine::create(options, &engine); !s) return fail(s);

  GenerateRequest request;
  if (o.has_text_prompt) {
    if (!engine->has_tokenizer()) {
      return fail(invalid_argument(o.model + " has no tokenizer; pass token ids with --prompt-ids or a "
                                             "tokenizer with --tokenizer"));
    }
    if (o.chat) {
      // The template writes BOS and every special token itself, as HF's apply_chat_template(tokenize=True).
      Expected<std::string> prompt = chat_prompt(*engine, o);
      if (!prompt) return fail(prompt.status());
      if (Status s = engine->tokenize(*prompt, false, true, &request.prompt); !s) return fail(s);
    } else if (Status s = engine->tokenize(o.prompt_text, true, true, &request.prompt); !s) {
      return fail(s);
    }
    if (request.prompt.empty()) return fail(invalid_argument("the prompt encodes to no tokens"));
  } else {
    auto ids = parse_token_ids(o.prompt_ids);
    if (!ids) return fail(ids.status());
    request.prompt = *ids;
  }
  request.max_tokens = o.n_tokens;
  request.ignore_eos = o.ignore_eos;
  SamplingParams& sp = request.sampling;
  sp.temperature = o.temperature;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repetition_penalty = o.repeat_penalty;
  sp.presence_penalty = o.presence_penalty;
  sp.frequency_penalty = o.frequency_penalty;
  sp.seed = o.seed;

  GenerateResult result;
  bool first = true;
  std::unique_ptr<TextStream> text = o.print_ids ? nullptr : engine->open_text_stream();
  Status s = engine->generate(request, &result, [&](int32_t token) {
    if (text) {
      const std::string piece = text->push(token);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf(first ? "%d" : " %d", token);
    }
    std::fflush(stdout);
    first = false;
    return true;
  });
  if (text) {
    const std::string rest = text->finish();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  } else {
    std::printf("\n");
  }
  if (!s) return fail(s);
  const size_t n = result.tokens.size();
  std::fprintf(stderr, "prompt: %zu tokens, first token after %.2f ms (%.1f tok/s)\n", request.prompt.size(),
               result.prefill_ms, 1000.0 * static_cast<double>(request.prompt.size()) / result.prefill_ms);
  if (n > 1) {
    std::fprintf(stderr, "decode: %zu tokens in %.2f ms (%.2f ms/token, %.1f tok/s), finish: %s\n", n - 1,
                 result.decode_ms, result.decode_ms / static_cast<double>(n - 1),
                 1000.0 * static_cast<double>(n - 1) / result.decode_ms,
                 finish_reason_name(result.finish_reason));
  }
  return 0;
}

}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens from a prompt");
  cmd->add_option("-m,--model", o->model, "HF model directory or .gguf file")->required();
  auto* text = cmd->add_option("-p,--prompt", o->prompt_text, "prompt text");
  auto* ids = cmd->add_option("--prompt-ids", o->prompt_ids, "prompt token ids, e.g. \"1 2 3\"");
  text->excludes(ids);
  cmd->add_option("-n,--n-predict", o->n_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temp", o->temperature, "temperature; 0 = greedy")->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", o->top_k, "top-k; 0 disables");
  cmd->add_option("--top-p", o->top_p, "top-p; 1 disables")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--min-p", o->min_p, "min-p; 0 disables")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "repetition penalty; 1 disables");
  cmd->add_option("--presence-penalty", o->presence_penalty, "presence penalty");
  cmd->add_option("--frequency-penalty", o->frequency_penalty, "frequency penalty");
  cmd->add_option("--seed", o->seed, "sampling seed");
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0 = all cores)");
  cmd->add_option("--tensor-parallel", o->tensor_parallel,
                  "split the model over N ranks: N GPUs (NCCL), or N CPU ranks sharing the cores")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", o->dtype, "weight dtype: f32, f16, bf16 (default: the checkpoint's)");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating after an EOS token");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer path, when it is not beside the model");
  cmd->add_flag("--print-ids", o->print_ids, "print token ids even when a tokenizer is present");
  cmd->add_flag("--chat", o->chat, "treat -p as a user message and apply the model's chat template");
  cmd->add_option("--system", o->system, "system message (with --chat)");
  cmd->add_option("--chat-template-file", o->chat_template_file, "Jinja chat template replacing the model's");
  cmd->add_option("--chat-kwargs", o->chat_kwargs,
                  "extra template variables as JSON, e.g. '{\"enable_thinking\": false}'");
  cmd->add_option("--backend", o->backend, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->callback([o, text] {
    o->has_text_prompt = text->count() > 0;
    if (o->chat && !o->has_text_prompt) {
      set_exit_code(fail(invalid_argument("--chat needs the user message as -p TEXT")));
      return;
    }
    if (!o->has_text_prompt && o->prompt_ids.empty()) {
      set_exit_code(fail(invalid_argument("give a prompt: -p TEXT or --prompt-ids \"1 2 3\"")));
      return;
    }
    set_exit_code(run_generate(*o));
  });
}

}  // namespace autoglm::cli

#include "autoglm/engine.h"

#include "engine/engine_impl.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "backend/backend.h"
#include "core/timer.h"
#include "graph/executor.h"
#include "loader/hf_config.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/chat/chat_template_source.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

namespace {

class EngineTextStream final : public TextStream {
 public:
  EngineTextStream(const Tokenizer& tokenizer, bool skip_special)
      : decoder_(tokenizer, DecodeOptions{skip_special}) {}
  void prime(const std::vector<int32_t>& context) { decoder_.prime(context); }
  std::string push(int32_t id) override { return decoder_.push(id); }
  std::string finish() override { return decoder_.finish(); }

 private:
  StreamDecoder decoder_;
};

// The tokenizer beside a model: absent files are not an error (the engine then works on ids), broken ones
// are.
Expected<std::unique_ptr<Tokenizer>> load_model_tokenizer(const EngineOptions& options) {
  const std::string& path = options.tokenizer_path.empty() ? options.model_path : options.tokenizer_path;
  auto tokenizer = load_tokenizer(path);
  if (!tokenizer && tokenizer.status().code() == StatusCode::kNotFound && options.tokenizer_path.empty()) {
    return std::unique_ptr<Tokenizer>();
  }
  return tokenizer;
}

// The chat template: the file the options name, else the model's own (HF folder or GGUF metadata), else the
// tokenizer folder's. None at all is not an error; a broken one is.
Status load_chat_template(const EngineOptions& options, std::optional<ChatTemplate>* out,
                          ChatTemplateConfig* config) {
  Expected<ChatTemplateConfig> found = find_chat_template(options.model_path);
  if (!found.has_value() && found.status().code() == StatusCode::kNotFound && !options.tokenizer_path.empty())
    found = find_chat_template(options.tokenizer_path);
  if (found.has_value()) {
    *config = *found;
  } else if (found.status().code() != StatusCode::kNotFound) {
    return found.status();
  }
  if (!options.chat_template_file.empty()) {
    std::ifstream in(options.chat_template_file, std::ios::binary);
    if (!in) return not_found(options.chat_template_file + ": cannot open the chat template");
    std::ostringstream text;
    text << in.rdbuf();
    config->chat_template = text.str();
  } else if (!found.has_value()) {
    return Status::ok();
  }
  Expected<ChatTemplate> parsed = ChatTemplate::parse(config->chat_template);
  if (!parsed.has_value()) return parsed.status().with_context("chat template");
  *out = std::move(parsed).value();
  return Status::ok();
}

}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

Status Engine::create(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  auto impl = std::make_unique<Impl>();
  BackendOptions backend_options;
  backend_options.n_threads = options.n_threads;
  backend_options.tune_gemms = options.tune_gemms;
  backend_options.bulk_copies = options.bulk_copies;
  backend_options.warpgroup_mma = options.warpgroup_mma;
  ModelLoadOptions load_options;
  if (!options.weight_dtype.empty()) {
    auto dtype = parse_dtype(options.weight_dtype);
    if (!dtype || !dtype_holds_weights(*dtype))
      return invalid_argument("unknown weight dtype '" + options.weight_dtype + "'");
    load_options.weight_dtype = dtype;
  } else if (options.backend != "cpu") {
    // GPUs compute in bf16 by default (f32 and f16 checkpoints are converted on upload).
    load_options.weight_dtype = DType::kBF16;
  }
  std::optional<ModelConfig> random_config;
  if (!options.random_weights_config.empty()) {
    AUTOGLM_ASSIGN_OR_RETURN(random_config, load_hf_config(options.random_weights_config));
  }
  auto load = [&](Backend& backend, const ParallelOptions& parallel) -> Expected<std::unique_ptr<Model>> {
    if (random_config) {
      return Model::random(*random_config, backend, load_options.weight_dtype.value_or(DType::kBF16),
                           options.random_seed, parallel);
    }
    ModelLoadOptions rank_options = load_options;
    rank_options.parallel = parallel;
    return Model::load(options.model_path, backend, rank_options);
  };
  AUTOGLM_ASSIGN_OR_RETURN(
      impl->ranks, ModelGroup::create(options.backend, backend_options, options.tensor_parallel, load));
  impl->backend = &impl->ranks->backend(0);
  impl->model = &impl->ranks->model(0);
  if (random_config) {
    // A tokenizer of the same vocabulary makes the random model usable with text (serving benchmarks).
    if (!options.tokenizer_path.empty()) {
      AUTOGLM_ASSIGN_OR_RETURN(impl->tokenizer, load_model_tokenizer(options));
    }
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(impl->tokenizer, load_model_tokenizer(options));
    AUTOGLM_RETURN_IF_ERROR(load_chat_template(options, &impl->chat_template, &impl->chat_config));
  }
  const int64_t model_max = impl->model->config().max_position_embeddings;
  impl->max_context = options.max_context > 0 ? options.max_context
                                              : std::min<int64_t>(model_max > 0 ? model_max : 4096, 4096);
  for (int r = 0; r < impl->ranks->world(); ++r) {
    std::string id = impl->ranks->backend(r).pci_bus_id();
    if (!id.empty()) impl->gpu_pci_bus_ids.push_back(std::move(id));
  }
  engine->reset(new Engine(std::move(impl)));
  return Status::ok();
}

ModelInfo Engine::model_info() const {
  const ModelConfig& c = impl_->model->config();
  ModelInfo info;
  info.architecture = c.architecture;
  info.vocab_size = c.vocab_size;
  info.n_layers = c.num_hidden_layers;
  info.hidden_size = c.hidden_size;
  info.max_context = impl_->max_context;
  info.weight_dtype = std::string(dtype_name(impl_->model->weight_dtype()));
  info.weight_bytes_per_step = impl_->model->weights().matrix_bytes;
  info.gpu_pci_bus_ids = impl_->gpu_pci_bus_ids;
  return info;
}

bool Engine::has_chat_template() const {
  return impl_->chat_template.has_value();
}

Status Engine::apply_chat_template(const std::string& messages_json, const std::string& tools_json,
                                   const ChatOptions& options, std::string* prompt) const {
  if (!impl_->chat_template) return not_found("this model has no chat template");
  ChatRenderOptions render;
  render.add_generation_prompt = options.add_generation_prompt;
  render.bos_token = impl_->chat_config.bos_token;
  render.eos_token = impl_->chat_config.eos_token;
  if (!options.kwargs_json.empty()) {
    Expected<jinja::Value> kwargs = jinja::value_from_json(options.kwargs_json);
    if (!kwargs.has_value()) return kwargs.status().with_context("chat template arguments");
    if (!kwargs->is_dict()) return invalid_argument("chat template arguments must be a JSON object");
    render.kwargs = kwargs->as_dict();
  }
  AUTOGLM_ASSIGN_OR_RETURN(*prompt, impl_->chat_template->render_json(messages_json, tools_json, render));
  return Status::ok();
}

bool Engine::has_tokenizer() const {
  return impl_->tokenizer != nullptr;
}

Status Engine::tokenize(const std::string& text, bool add_special, bool parse_special,
                        std::vector<int32_t>* ids) const {
  if (!impl_->tokenizer) return not_found("this model has no tokenizer; pass token ids");
  *ids = impl_->tokenizer->encode(text, EncodeOptions{add_special, parse_special});
  return Status::ok();
}

Status Engine::detokenize(const std::vector<int32_t>& ids, bool skip_special, std::string* text) const {
  if (!impl_->tokenizer) return not_found("this model has no tokenizer");
  *text = impl_->tokenizer->decode(ids, DecodeOptions{skip_special});
  return Status::ok();
}

std::unique_ptr<TextStream> Engine::open_text_stream(bool skip_special) const {
  if (!impl_->tokenizer) return nullptr;
  return std::make_unique<EngineTextStream>(*impl_->tokenizer, skip_special);
}

std::unique_ptr<TextStream> Engine::open_text_stream(bool skip_special,
                                                     const std::vector<int32_t>& context) const {
  if (!impl_->tokenizer) return nullptr;
  auto stream = std::make_unique<EngineTextStream>(*impl_->tokenizer, skip_special);
  stream->prime(context);
  return stream;
}

Status Engine::generate(const GenerateRequest& request, GenerateResult* result,
                        const std::function<bool(int32_t)>& on_token) {
  const Model& model = *impl_->model;
  const ModelConfig& config = model.config();
  if (request.prompt.empty()) return invalid_argument("the prompt is empty");
  if (request.max_tokens < 0) return invalid_argument("max_tokens must be >= 0");
  const int64_t needed = static_cast<int64_t>(request.prompt.size()) + request.max_tokens;
  if (static_cast<int64_t>(request.prompt.size()) > impl_->max_context) {
    return invalid_argument("the prompt has " + std::to_string(request.prompt.size()) +
                            " tokens, more than the context of " + std::to_string(impl_->max_context));
  }
  std::vector<int32_t> stop_ids = request.stop_token_ids;
  if (!request.ignore_eos) {
    for (int32_t id : model.eos_token_ids())
      stop_ids.push_back(id);
  }

  // One cache and executor per tensor-parallel rank; every step runs on all ranks together.
  ModelGroup& ranks = *impl_->ranks;
  std::vector<KvCache> caches;
  std::vector<std::unique_ptr<Executor>> executors;
  for (int r = 0; r < ranks.world(); ++r) {
    const Model& m = ranks.model(r);
    AUTOGLM_ASSIGN_OR_RETURN(KvCache cache,
                             KvCache::create(ranks.backend(r), m.local_config(),
                                             std::min(needed, impl_->max_context), m.kv_dtype()));
    caches.push_back(std::move(cache));
    executors.push_back(std::make_unique<Executor>(ranks.backend(r)));
  }
  Sampler sampler(request.sampling);
  *result = GenerateResult{};
  std::vector<float> row(static_cast<size_t>(config.vocab_size));
  const TensorView row_view{row.data(), DType::kF32, Shape{config.vocab_size}, Device{}};

  Timer timer;
  std::span<const int32_t> step_tokens = request.prompt;
  int32_t last = 0;
  for (int32_t i = 0; i < request.max_tokens; ++i) {
    const KvCache& cache = caches[0];
    if (cache.n_filled + static_cast<int64_t>(step_tokens.size()) > cache.capacity) break;  // context full
    TensorView logits;
    AUTOGLM_RETURN_IF_ERROR(ranks.run([&](int r) -> Status {
      Expected<TensorView> out = ranks.model(r).forward(*executors[static_cast<size_t>(r)],
                                                        caches[static_cast<size_t>(r)], step_tokens);
      if (!out) return out.status();
      if (r == 0) logits = *out;
      return Status::ok();
    }));
    AUTOGLM_RETURN_IF_ERROR(impl_->backend->copy(row_view, logits));
    last = sampler.sample(row, request.prompt, result->tokens);
    if (i == 0) {
      result->prefill_ms = timer.elapsed_ms();
      timer.reset();
    }
    result->tokens.push_back(last);
    if (on_token && !on_token(last)) {
      result->finish_reason = FinishReason::kCancelled;
      break;
    }
    if (std::find(stop_ids.begin(), stop_ids.end(), last) != stop_ids.end()) {
      result->finish_reason = FinishReason::kStop;
      break;
    }
    step_tokens = std::span<const int32_t>(&last, 1);
  }
  if (!result->tokens.empty()) result->decode_ms = timer.elapsed_ms();
  return Status::ok();
}

}  // namespace autoglm

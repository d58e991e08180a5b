// Public API of the inference engine. Light header: no third-party or internal types (PIMPL).
//
// Threading: an Engine is used from one thread at a time. Errors are returned as Status; no exception
// leaves these functions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autoglm/sampling_params.h"
#include "autoglm/status.h"

namespace autoglm {

struct EngineOptions {
  std::string model_path;  // HF model directory (config.json + safetensors) or a .gguf file
  // Where the tokenizer is: empty means the model path (its tokenizer files, or the GGUF's vocabulary). A
  // model path without tokenizer files leaves the engine working on token ids only.
  std::string tokenizer_path;
  std::string weight_dtype;  // "f32", "f16", "bf16"; empty: the checkpoint's dtype on the CPU, bf16 on a GPU
  std::string backend = "cpu";
  int n_threads = 0;        // CPU threads, 0 = all cores
  int64_t max_context = 0;  // positions per sequence; 0 = min(max_position_embeddings, 4096)
  // A Jinja file that replaces the model's own chat template (empty: the model's, if it has one).
  std::string chat_template_file;
  // Benchmarks: a config.json (HF layout) describing a model built with random weights instead of loading
  // model_path (which may then be empty); seeded, so runs are repeatable.
  std::string random_weights_config;
  uint64_t random_seed = 1;
  // GPUs: time the GEMM algorithms of each row-count bucket once and keep the fastest, instead of the library
  // heuristic's first choice (the serving engine does it for every bucket at start). Off: no result depends
  // on a timing.
  bool tune_gemms = true;
  // GPUs: kernels may land operands by the device's bulk copies (BackendOptions::bulk_copies); off for
  // comparisons.
  bool bulk_copies = true;
  // GPUs: kernels with a Hopper warpgroup-MMA version take it on sm_90 (BackendOptions::warpgroup_mma); off
  // for comparisons.
  bool warpgroup_mma = true;
  // Tensor parallelism: the model split over this many ranks (Megatron-style: heads, features and vocabulary
  // rows), one per GPU from the first (NCCL between them), or CPU ranks sharing the cores. 1: no split.
  int tensor_parallel = 1;
};

struct ChatOptions {
  bool add_generation_prompt = true;
  // Extra template variables as a JSON object, e.g. {"enable_thinking": false}; empty for none.
  std::string kwargs_json;
};

struct GenerateRequest {
  std::vector<int32_t> prompt;  // token ids; must be non-empty
  int32_t max_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_token_ids;  // in addition to the model's EOS ids unless ignore_eos
  bool ignore_eos = false;
};

enum class FinishReason { kLength, kStop, kCancelled };

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (the stop token included when one ended generation)
  FinishReason finish_reason = FinishReason::kLength;
  double prefill_ms = 0;  // prompt processing up to the first token's logits
  double decode_ms = 0;   // all later steps
};

struct ModelInfo {
  std::string architecture;
  int64_t vocab_size = 0;
  int64_t n_layers = 0;
  int64_t hidden_size = 0;
  int64_t max_context = 0;
  std::string weight_dtype;
  size_t weight_bytes_per_step = 0;  // matrix bytes one decode step streams (embedding table excluded)
  std::vector<std::string> gpu_pci_bus_ids;  // the GPU of each tensor-parallel rank; empty on the CPU
};

// Turns generated ids into text as they arrive, never splitting a UTF-8 character; made by
// Engine::open_text_stream. Not thread-safe; one per request.
class TextStream {
 public:
  virtual ~TextStream() = default;
  // The text completed by this token (possibly empty).
  virtual std::string push(int32_t id) = 0;
  // Text still held back at the end (an incomplete character).
  virtual std::string finish() = 0;
};

class Engine {
 public:
  static Status create(const EngineOptions& options, std::unique_ptr<Engine>* engine);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Generates for one request. on_token (optional) sees each id as it is produced; returning false cancels.
  Status generate(const GenerateRequest& request, GenerateResult* result,
                  const std::function<bool(int32_t)>& on_token = {});

  ModelInfo model_info() const;

  // Tokenizer access; kNotFound when the engine has no tokenizer.
  bool has_tokenizer() const;
  // add_special: BOS/EOS as the tokenizer's template adds them; parse_special: special-token strings in the
  // text become their ids (false for untrusted text that must stay text).
  Status tokenize(const std::string& text, bool add_special, bool parse_special,
                  std::vector<int32_t>* ids) const;
  Status detokenize(const std::vector<int32_t>& ids, bool skip_special, std::string* text) const;
  // The model's chat template (HF tokenizer_config.json / chat_template.jinja, or GGUF
  // tokenizer.chat_template).
  bool has_chat_template() const;
  // Renders an OpenAI-style "messages" array (JSON text) and optional "tools" array (empty: none) into the
  // prompt text, byte for byte as HF apply_chat_template(tokenize=False) would. kNotFound without a template;
  // kInvalidArgument for conversations the template rejects.
  Status apply_chat_template(const std::string& messages_json, const std::string& tools_json,
                             const ChatOptions& options, std::string* prompt) const;
  // A stream decoder over the engine's tokenizer (skipping special tokens when asked); null without one.
  std::unique_ptr<TextStream> open_text_stream(bool skip_special = true) const;
  // Same, continuing after `context` (the prompt): the first generated token's text reads as a continuation
  // of it (a SentencePiece word keeps its leading space).
  std::unique_ptr<TextStream> open_text_stream(bool skip_special, const std::vector<int32_t>& context) const;

 private:
  friend class AsyncEngine;  // serves the same model and tokenizer
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

const char* finish_reason_name(FinishReason reason);  // "length", "stop", "cancelled"

}  // namespace autoglm

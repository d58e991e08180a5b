// A GGUF model file as a WeightSource with HF tensor names and layouts, plus the ModelConfig its metadata
// describes, so the architectures in src/model/arch/ run GGUF files unchanged.
//
// Names: llama.cpp's (token_embd, blk.N.attn_q, ffn_up, ...) map to HF's (model.embed_tokens,
// model.layers.N.self_attn.q_proj, mlp.up_proj, ...); GLM-4's fused ffn_up is mlp.gate_up_proj.
// Layouts: GGUF dims are innermost first, so [in, out] in the file is [out, in] here. llama.cpp's converter
// permutes the q/k projection rows of "llama" models from HF's half-split RoPE layout into adjacent pairs
// (llama.cpp rotates adjacent pairs for them); this source undoes that permutation (a row permutation, so it
// works on quantized rows too), and the NeoX-layout Llama code then computes the same function. Qwen2/Qwen3
// (half-split in llama.cpp too) and GLM-4 (adjacent pairs in both) are stored unpermuted.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gguf/gguf_file.h"
#include "loader/model_config.h"
#include "loader/weight_source.h"

namespace autoglm {

// The DType of a ggml type id, if this build computes with it.
std::optional<DType> dtype_for_ggml_type(uint32_t ggml_type);

// ModelConfig from GGUF metadata (general.architecture llama, qwen2, qwen3, glm4).
Expected<ModelConfig> model_config_from_gguf(const GgufFile& file);

class GgufSource final : public WeightSource {
 public:
  static Expected<std::unique_ptr<GgufSource>> open(const std::string& path);

  std::string describe() const override { return file_->path(); }
  std::vector<std::string> tensor_names() const override;
  std::optional<TensorInfo> info(std::string_view name) const override;
  Expected<TensorView> view(std::string_view name) const override;

  const GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  // "F32 x12, Q4_K x96, Q6_K x13": the tensor types of the file, for logs and errors.
  std::string type_summary() const;

 private:
  struct Entry {
    const GgufTensorInfo* tensor = nullptr;
    int64_t unpermute_heads = 0;  // > 0: undo llama.cpp's q/k row permutation over this many heads
  };

  std::unique_ptr<GgufFile> file_;
  ModelConfig config_;
  std::map<std::string, Entry, std::less<>> entries_;  // by HF name
  mutable std::mutex mutex_;
  mutable std::map<std::string, Tensor, std::less<>>
      unpermuted_;  // rows restored to HF order, made on demand
};

}  // namespace autoglm

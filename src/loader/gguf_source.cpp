#include "loader/gguf_source.h"

#include <cstring>

namespace autoglm {
namespace {

struct ArchInfo {
  const char* gguf_name;
  const char* hf_architecture;
  const char* model_type;
  bool permuted_qk;  // llama.cpp's converter permuted q/k rows (adjacent-pair RoPE in llama.cpp)
};

constexpr ArchInfo kArchitectures[] = {
    {"llama", "LlamaForCausalLM", "llama", true},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false},
    {"glm4", "Glm4ForCausalLM", "glm4", false},
};

// GGUF per-layer tensor stem -> HF per-layer name (without the ".weight"/".bias" suffix).
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"attn_norm", "input_layernorm"},
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
    {"post_attention_norm", "post_self_attn_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"post_ffw_norm", "post_mlp_layernorm"},
};

const ArchInfo* find_arch(const std::string& name) {
  for (const auto& a : kArchitectures) {
    if (name == a.gguf_name) return &a;
  }
  return nullptr;
}

// HF name of a GGUF tensor name, or "" when it has none (rope_freqs, unknown tensors).
std::string hf_name(const std::string& gguf, const ArchInfo& arch) {
  if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf == "output_norm.weight") return "model.norm.weight";
  if (gguf == "output.weight") return "lm_head.weight";
  if (gguf.rfind("blk.", 0) != 0) return "";
  const size_t dot = gguf.find('.', 4);
  if (dot == std::string::npos) return "";
  const std::string layer = gguf.substr(4, dot - 4);
  const size_t suffix_dot = gguf.rfind('.');
  const std::string stem = gguf.substr(dot + 1, suffix_dot - dot - 1);
  const std::string suffix = gguf.substr(suffix_dot);  // ".weight" / ".bias"
  std::string hf_stem;
  if (stem == "ffn_up") {
    hf_stem = std::string(arch.gguf_name) == "glm4" ? "mlp.gate_up_proj" : "mlp.up_proj";
  } else {
    for (const auto& [g, h] : kLayerNames) {
      if (stem == g) hf_stem = h;
    }
  }
  if (hf_stem.empty()) return "";
  return "model.layers." + layer + "." + hf_stem + suffix;
}

Shape shape_of(const GgufTensorInfo& t) {
  Shape s;
  std::vector<int64_t> reversed(t.dims.rbegin(), t.dims.rend());
  Shape::from_dims(reversed.data(), static_cast<int>(reversed.size()), &s);
  return s;
}

}  // namespace

std::optional<DType> dtype_for_ggml_type(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    case GgmlType::kQ8_0:
      return DType::kQ8_0;
    case GgmlType::kQ4_0:
      return DType::kQ4_0;
    case GgmlType::kQ4_K:
      return DType::kQ4_K;
    case GgmlType::kQ5_K:
      return DType::kQ5_K;
    case GgmlType::kQ6_K:
      return DType::kQ6_K;
    default:
      return std::nullopt;  // ggml's enum, not ours: many types this build does not compute with
  }
}

Expected<ModelConfig> model_config_from_gguf(const GgufFile& f) {
  const std::string origin = f.path();
  const auto arch_name = f.get_string("general.architecture");
  if (!arch_name) return parse_error(origin + ": missing general.architecture");
  const ArchInfo* arch = find_arch(*arch_name);
  if (!arch) {
    return unsupported(origin + ": GGUF architecture '" + *arch_name +
                       "' is not supported (supported: llama, qwen2, qwen3, glm4)");
  }
  const std::string p = *arch_name + ".";
  auto required = [&](const std::string& key) -> Expected<int64_t> {
    auto v = f.get_int(p + key);
    if (!v) return parse_error(origin + ": missing or non-integer metadata '" + p + key + "'");
    return *v;
  };
  ModelConfig c;
  c.architecture = arch->hf_architecture;
  c.model_type = arch->model_type;
  AUTOGLM_ASSIGN_OR_RETURN(c.hidden_size, required("embedding_length"));
  AUTOGLM_ASSIGN_OR_RETURN(c.num_hidden_layers, required("block_count"));
  AUTOGLM_ASSIGN_OR_RETURN(c.intermediate_size, required("feed_forward_length"));
  AUTOGLM_ASSIGN_OR_RETURN(c.num_attention_heads, required("attention.head_count"));
  c.num_key_value_heads = f.get_int(p + "attention.head_count_kv").value_or(c.num_attention_heads);
  c.max_position_embeddings = f.get_int(p + "context_length").value_or(2048);
  c.head_dim = f.get_int(p + "attention.key_length")
                   .value_or(c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.rms_norm_eps = f.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope.theta = f.get_float(p + "rope.freq_base").value_or(10000.0);
  if (auto rot = f.get_int(p + "rope.dimension_count"); rot && c.head_dim > 0) {
    c.rope.partial_rotary_factor = static_cast<double>(*rot) / static_cast<double>(c.head_dim);
  }
  if (auto type = f.get_string(p + "rope.scaling.type"); type && *type != "none") {
    if (*type != "linear")
      return unsupported(origin + ": rope scaling type '" + *type + "' is not supported");
    c.rope.scaling = RopeScalingType::kLinear;
    c.rope.factor = f.get_float(p + "rope.scaling.factor").value_or(1.0);
  }
  if (const GgufTensorInfo* freqs = f.find_tensor("rope_freqs.weight")) {
    const uint8_t* data = f.tensor_data(*freqs);
    if (freqs->type != static_cast<uint32_t>(GgmlType::kF32) || data == nullptr) {
      return unsupported(origin + ": rope_freqs.weight must be F32");
    }
    c.rope.frequency_factors.resize(static_cast<size_t>(freqs->numel()));
    std::memcpy(c.rope.frequency_factors.data(), data, freqs->bytes);
  }
  const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens");
  c.vocab_size =
      f.get_int(p + "vocab_size").value_or(tokens ? static_cast<int64_t>(tokens->strings.size()) : 0);
  if (const GgufTensorInfo* embd = f.find_tensor("token_embd.weight"); embd && embd->dims.size() == 2) {
    c.vocab_size = embd->dims[1];
  }
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (auto bos = f.get_int("tokenizer.ggml.bos_token_id")) c.bos_token_ids = {*bos};
  if (auto eos = f.get_int("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {*eos};
  // The per-layer table is sized from the file: bound it before allocating (ModelConfig::validate checks the
  // rest of the sizes later).
  if (c.num_hidden_layers <= 0 || c.num_hidden_layers > kMaxLayers) {
    return parse_error(origin + ": " + p + "block_count = " + std::to_string(c.num_hidden_layers) +
                       " is outside [1, " + std::to_string(kMaxLayers) + "]");
  }
  c.layer_types.assign(static_cast<size_t>(c.num_hidden_layers), LayerAttentionType::kFull);
  return c;
}

Expected<std::unique_ptr<GgufSource>> GgufSource::open(const std::string& path) {
  auto source = std::unique_ptr<GgufSource>(new GgufSource());
  AUTOGLM_ASSIGN_OR_RETURN(source->file_, GgufFile::open(path));
  AUTOGLM_ASSIGN_OR_RETURN(source->config_, model_config_from_gguf(*source->file_));
  const ArchInfo* arch = find_arch(*source->file_->get_string("general.architecture"));
  for (const auto& t : source->file_->tensors()) {
    const std::string name = hf_name(t.name, *arch);
    if (name.empty()) continue;
    Entry e{&t, 0};
    if (arch->permuted_qk) {
      if (name.find("self_attn.q_proj") != std::string::npos)
        e.unpermute_heads = source->config_.num_attention_heads;
      if (name.find("self_attn.k_proj") != std::string::npos)
        e.unpermute_heads = source->config_.num_key_value_heads;
    }
    source->entries_.emplace(name, e);
  }
  return source;
}

std::vector<std::string> GgufSource::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : entries_)
    names.push_back(name);
  return names;
}

std::optional<TensorInfo> GgufSource::info(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  TensorInfo info;
  info.name = std::string(name);
  info.dtype = dtype_for_ggml_type(it->second.tensor->type).value_or(DType::kF32);
  info.shape = shape_of(*it->second.tensor);
  info.file = file_->path();
  return info;
}

Expected<TensorView> GgufSource::view(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return not_found("tensor '" + std::string(name) + "' not found in " + file_->path());
  }
  const GgufTensorInfo& t = *it->second.tensor;
  const auto dtype = dtype_for_ggml_type(t.type);
  if (!dtype) {
    const auto traits = ggml_type_traits(t.type);
    return unsupported(file_->path() + ": tensor '" + t.name + "' is " + (traits ? traits->name : "?") +
                       ", which this build cannot compute with yet (file types: " + type_summary() + ")");
  }
  TensorView v;
  v.data = const_cast<uint8_t*>(file_->tensor_data(t));
  v.dtype = *dtype;
  v.shape = shape_of(t);
  const int64_t heads = it->second.unpermute_heads;
  if (heads == 0) return v;

  std::lock_guard<std::mutex> lock(mutex_);
  auto done = unpermuted_.find(name);
  if (done != unpermuted_.end()) return done->second.view();
  const int64_t rows = v.shape[0];
  if (v.shape.rank() < 1 || rows % (2 * heads) != 0) {
    return parse_error(file_->path() + ": tensor '" + t.name + "' has " + std::to_string(rows) +
                       " rows, not a multiple of 2 x " + std::to_string(heads) + " heads");
  }
  Tensor out = Tensor::host(v.dtype, v.shape);
  if (!out.defined()) return resource_exhausted("cannot allocate " + t.name);
  const size_t row_bytes = v.nbytes() / static_cast<size_t>(rows);
  const int64_t head_rows = rows / heads, half = head_rows / 2;
  const auto* src = static_cast<const uint8_t*>(v.data);
  auto* dst = static_cast<uint8_t*>(out.data());
  // File row h*d + 2i + j holds HF row h*d + j*d/2 + i.
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t file_row = h * head_rows + 2 * i + j, hf_row = h * head_rows + j * half + i;
        std::memcpy(dst + hf_row * row_bytes, src + file_row * row_bytes, row_bytes);
      }
    }
  }
  auto [pos, inserted] = unpermuted_.emplace(std::string(name), std::move(out));
  return pos->second.view();
}

std::string GgufSource::type_summary() const {
  std::map<std::string, int> counts;
  for (const auto& t : file_->tensors()) {
    const auto traits = ggml_type_traits(t.type);
    counts[traits ? traits->name : "type " + std::to_string(t.type)]++;
  }
  std::string s;
  for (const auto& [type, n] : counts)
    s += (s.empty() ? "" : ", ") + type + " x" + std::to_string(n);
  return s;
}

}  // namespace autoglm

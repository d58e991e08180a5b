#include "loader/hf_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <new>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace autoglm {
namespace {

using Json = nlohmann::json;

// HF's default window where the config class enables one without naming its size (Mistral, Qwen2).
constexpr int64_t kHfDefaultSlidingWindow = 4096;
// Qwen2Config/Qwen3Config default: the first 28 layers use full attention.
constexpr int64_t kHfDefaultMaxWindowLayers = 28;

// Typed access to the keys of one JSON object, with errors naming the file and the (dotted) key. Absent and
// null keys read the same: the output keeps its default, as HF's config classes treat None.
class JsonFields {
 public:
  JsonFields(const Json& object, const std::string& origin, std::string prefix = "")
      : object_(object), origin_(origin), prefix_(std::move(prefix)) {}

  const Json* find(std::string_view key) const {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  // True even when the value is null, for the few keys where HF tells absent from null.
  bool has_key(std::string_view key) const { return object_.contains(key); }
  Status missing(std::string_view key) const {
    return parse_error(origin_ + ": missing required key '" + name(key) + "'");
  }
  Status wrong_type(std::string_view key, const char* expected, const Json& got) const {
    return parse_error(origin_ + ": key '" + name(key) + "' must be " + expected + ", got " +
                       got.type_name() + " " + got.dump());
  }

  Status get_int(std::string_view key, int64_t* out, bool required = false) const {
    const Json* v = find(key);
    if (v == nullptr) return required ? missing(key) : Status::ok();
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return parse_error(origin_ + ": key '" + name(key) + "' is out of range: " + v->dump());
    }
    if (v->is_number_integer()) {
      *out = v->get<int64_t>();
      return Status::ok();
    }
    // Some exporters write integral sizes as floats ("max_position_embeddings": 4096.0).
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) {
        *out = static_cast<int64_t>(d);
        return Status::ok();
      }
    }
    return wrong_type(key, "an integer", *v);
  }
  Status get_double(std::string_view key, double* out, bool required = false) const {
    const Json* v = find(key);
    if (v == nullptr) return required ? missing(key) : Status::ok();
    if (!v->is_number()) return wrong_type(key, "a number", *v);
    *out = v->get<double>();
    return Status::ok();
  }
  Status get_bool(std::string_view key, bool* out) const {
    const Json* v = find(key);
    if (v == nullptr) return Status::ok();
    if (!v->is_boolean()) return wrong_type(key, "a boolean", *v);
    *out = v->get<bool>();
    return Status::ok();
  }
  Status get_string(std::string_view key, std::string* out, bool required = false) const {
    const Json* v = find(key);
    if (v == nullptr) return required ? missing(key) : Status::ok();
    if (!v->is_string()) return wrong_type(key, "a string", *v);
    *out = v->get<std::string>();
    return Status::ok();
  }
  // An int, a list of ints, or null (no ids).
  Status get_token_ids(std::string_view key, std::vector<int64_t>* out) const {
    const Json* v = find(key);
    if (v == nullptr) return Status::ok();
    std::vector<int64_t> ids;
    if (v->is_number_integer() && !v->is_number_float()) {
      ids.push_back(v->get<int64_t>());
    } else if (v->is_array()) {
      for (const Json& id : *v) {
        if (!id.is_number_integer()) return wrong_type(key, "an integer or a list of integers", *v);
        ids.push_back(id.get<int64_t>());
      }
    } else {
      return wrong_type(key, "an integer or a list of integers", *v);
    }
    for (int64_t id : ids) {
      if (id < 0)
        return parse_error(origin_ + ": key '" + name(key) + "' holds a negative token id " + v->dump());
    }
    *out = std::move(ids);
    return Status::ok();
  }

  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const Json& object_;
  const std::string& origin_;
  std::string prefix_;
};

bool is_glm(const std::string& model_type) {
  return model_type == "glm" || model_type == "glm4";
}
bool is_qwen(const std::string& model_type) {
  return model_type == "qwen2" || model_type == "qwen3";
}

Status read_sizes(const JsonFields& f, const std::string& origin, ModelConfig* c) {
  AUTOGLM_RETURN_IF_ERROR(f.get_string("model_type", &c->model_type, true));
  if (const Json* archs = f.find("architectures")) {
    if (!archs->is_array() || (!archs->empty() && !(*archs)[0].is_string())) {
      return f.wrong_type("architectures", "a list of strings", *archs);
    }
    if (!archs->empty()) c->architecture = (*archs)[0].get<std::string>();
  }
  AUTOGLM_RETURN_IF_ERROR(f.get_int("vocab_size", &c->vocab_size, true));
  AUTOGLM_RETURN_IF_ERROR(f.get_int("hidden_size", &c->hidden_size, true));
  AUTOGLM_RETURN_IF_ERROR(f.get_int("intermediate_size", &c->intermediate_size, true));
  AUTOGLM_RETURN_IF_ERROR(f.get_int("num_hidden_layers", &c->num_hidden_layers, true));
  AUTOGLM_RETURN_IF_ERROR(f.get_int("num_attention_heads", &c->num_attention_heads, true));
  c->num_key_value_heads = c->num_attention_heads;
  AUTOGLM_RETURN_IF_ERROR(f.get_int("num_key_value_heads", &c->num_key_value_heads));
  if (f.find("head_dim") != nullptr) {
    AUTOGLM_RETURN_IF_ERROR(f.get_int("head_dim", &c->head_dim));
  } else if (c->num_attention_heads > 0) {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return parse_error(origin + ": no head_dim, and hidden_size " + std::to_string(c->hidden_size) +
                         " is not divisible by num_attention_heads " +
                         std::to_string(c->num_attention_heads));
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  AUTOGLM_RETURN_IF_ERROR(f.get_int("max_position_embeddings", &c->max_position_embeddings));
  AUTOGLM_RETURN_IF_ERROR(f.get_double("rms_norm_eps", &c->rms_norm_eps));
  AUTOGLM_RETURN_IF_ERROR(f.get_string("hidden_act", &c->hidden_act));
  AUTOGLM_RETURN_IF_ERROR(f.get_bool("tie_word_embeddings", &c->tie_word_embeddings));
  // GlmConfig defaults attention_bias to true; Qwen2 builds q/k/v with bias whatever the config says.
  c->attention_bias = is_glm(c->model_type);
  AUTOGLM_RETURN_IF_ERROR(f.get_bool("attention_bias", &c->attention_bias));
  if (c->model_type == "qwen2") c->attention_bias = true;
  AUTOGLM_RETURN_IF_ERROR(f.get_bool("mlp_bias", &c->mlp_bias));
  // transformers 5 writes "dtype"; older versions "torch_dtype".
  AUTOGLM_RETURN_IF_ERROR(f.get_string("torch_dtype", &c->torch_dtype));
  AUTOGLM_RETURN_IF_ERROR(f.get_string("dtype", &c->torch_dtype));
  AUTOGLM_RETURN_IF_ERROR(f.get_token_ids("bos_token_id", &c->bos_token_ids));
  AUTOGLM_RETURN_IF_ERROR(f.get_token_ids("eos_token_id", &c->eos_token_ids));
  return Status::ok();
}

// RoPE from `rope_parameters` (transformers 5) or `rope_scaling` + top-level `rope_theta` (older configs).
// Values inside the rope object win over top-level ones.
Status read_rope(const JsonFields& f, const std::string& origin, ModelConfig* c) {
  RopeConfig& rope = c->rope;
  // GlmConfig sets partial_rotary_factor 0.5 when the config does not name one.
  if (is_glm(c->model_type)) rope.partial_rotary_factor = 0.5;
  AUTOGLM_RETURN_IF_ERROR(f.get_double("rope_theta", &rope.theta));
  AUTOGLM_RETURN_IF_ERROR(f.get_double("partial_rotary_factor", &rope.partial_rotary_factor));

  const char* key = f.find("rope_parameters") != nullptr ? "rope_parameters" : "rope_scaling";
  const Json* params = f.find(key);
  if (params == nullptr) return Status::ok();
  if (!params->is_object()) return f.wrong_type(key, "an object", *params);
  if (params->contains("full_attention") || params->contains("sliding_attention")) {
    return unsupported(origin + ": per-layer-type '" + key + "' is not supported");
  }
  const JsonFields p(*params, origin, std::string(key) + ".");
  AUTOGLM_RETURN_IF_ERROR(p.get_double("rope_theta", &rope.theta));
  AUTOGLM_RETURN_IF_ERROR(p.get_double("partial_rotary_factor", &rope.partial_rotary_factor));
  std::string type = "default";
  AUTOGLM_RETURN_IF_ERROR(p.get_string("type", &type));  // the legacy spelling
  AUTOGLM_RETURN_IF_ERROR(p.get_string("rope_type", &type));
  if (type == "default") {
    rope.scaling = RopeScalingType::kNone;
  } else if (type == "linear") {
    rope.scaling = RopeScalingType::kLinear;
    AUTOGLM_RETURN_IF_ERROR(p.get_double("factor", &rope.factor, true));
  } else if (type == "llama3") {
    rope.scaling = RopeScalingType::kLlama3;
    AUTOGLM_RETURN_IF_ERROR(p.get_double("factor", &rope.factor, true));
    AUTOGLM_RETURN_IF_ERROR(p.get_double("low_freq_factor", &rope.low_freq_factor, true));
    AUTOGLM_RETURN_IF_ERROR(p.get_double("high_freq_factor", &rope.high_freq_factor, true));
    AUTOGLM_RETURN_IF_ERROR(
        p.get_int("original_max_position_embeddings", &rope.original_max_position_embeddings, true));
  } else {
    return unsupported(origin + ": rope type '" + type + "' (" + key +
                       ") is not supported (supported: default, linear, llama3)");
  }
  return Status::ok();
}

Status read_layer_types(const JsonFields& f, const std::string& origin,
                        std::vector<LayerAttentionType>* out) {
  const Json* list = f.find("layer_types");
  if (!list->is_array()) return f.wrong_type("layer_types", "a list of strings", *list);
  out->clear();
  for (const Json& t : *list) {
    if (!t.is_string()) return f.wrong_type("layer_types", "a list of strings", *list);
    const std::string& s = t.get_ref<const std::string&>();
    if (s == "full_attention") {
      out->push_back(LayerAttentionType::kFull);
    } else if (s == "sliding_attention") {
      out->push_back(LayerAttentionType::kSliding);
    } else {
      return unsupported(origin + ": layer type '" + s + "' in layer_types is not supported");
    }
  }
  return Status::ok();
}

// Which layers slide, following each HF config class:
//  - Mistral: `sliding_window` (4096 when the key is absent, none when null) applies to every layer; the
//    class ignores layer_types.
//  - Qwen2/Qwen3: the window exists only with `use_sliding_window: true`; then layer_types if given, else
//    layers with index >= max_window_layers slide.
//  - others: layer_types if given, with `sliding_window`.
// A layer marked sliding without any window attends fully, as in HF's attention modules.
Status read_attention_layout(const JsonFields& f, const std::string& origin, ModelConfig* c) {
  const int64_t n = c->num_hidden_layers;
  if (n > kMaxLayers) {
    return parse_error(origin + ": num_hidden_layers " + std::to_string(n) + " exceeds the sanity limit of " +
                       std::to_string(kMaxLayers));
  }
  if (n <= 0) return Status::ok();  // validate() reports it
  int64_t window = 0;
  AUTOGLM_RETURN_IF_ERROR(f.get_int("sliding_window", &window));
  c->layer_types.assign(static_cast<size_t>(n), LayerAttentionType::kFull);

  // HF's MistralConfig default applies only when the key is missing; null means no window.
  if (c->model_type == "mistral" && !f.has_key("sliding_window")) window = kHfDefaultSlidingWindow;
  if (is_qwen(c->model_type)) {
    bool use_sliding_window = false;
    AUTOGLM_RETURN_IF_ERROR(f.get_bool("use_sliding_window", &use_sliding_window));
    if (!use_sliding_window) {
      window = 0;
    } else if (!f.has_key("sliding_window")) {
      window = kHfDefaultSlidingWindow;
    }
  }
  if (c->model_type == "mistral") {
    c->layer_types.assign(static_cast<size_t>(n), LayerAttentionType::kSliding);
  } else if (f.find("layer_types") != nullptr) {
    AUTOGLM_RETURN_IF_ERROR(read_layer_types(f, origin, &c->layer_types));
  } else if (is_qwen(c->model_type)) {
    int64_t max_window_layers = kHfDefaultMaxWindowLayers;
    AUTOGLM_RETURN_IF_ERROR(f.get_int("max_window_layers", &max_window_layers));
    for (int64_t i = std::max<int64_t>(max_window_layers, 0); i < n; ++i) {
      c->layer_types[static_cast<size_t>(i)] = LayerAttentionType::kSliding;
    }
  }
  if (window == 0) {
    for (auto& t : c->layer_types)
      t = LayerAttentionType::kFull;
  }
  bool any_sliding = false;
  for (auto t : c->layer_types)
    any_sliding = any_sliding || t == LayerAttentionType::kSliding;
  c->sliding_window = any_sliding ? window : 0;
  return Status::ok();
}

}  // namespace

Expected<ModelConfig> parse_hf_config(const std::string& json_text, const std::string& origin) {
  ModelConfig config;
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    return parse_error(origin + ": not valid JSON: " + e.what());
  }
  try {
    if (!root.is_object())
      return parse_error(origin + ": top level is a JSON " + root.type_name() + ", not an object");
    const JsonFields fields(root, origin);
    AUTOGLM_RETURN_IF_ERROR(read_sizes(fields, origin, &config));
    AUTOGLM_RETURN_IF_ERROR(read_rope(fields, origin, &config));
    AUTOGLM_RETURN_IF_ERROR(read_attention_layout(fields, origin, &config));
  } catch (const nlohmann::json::exception& e) {
    return parse_error(origin + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted(origin + ": out of memory while parsing");
  }
  AUTOGLM_RETURN_IF_ERROR(config.validate(origin));
  return config;
}

Expected<ModelConfig> load_hf_config(const std::string& model_dir_or_config_json) {
  std::error_code ec;
  std::string path = model_dir_or_config_json;
  if (std::filesystem::is_directory(path, ec)) path = (std::filesystem::path(path) / "config.json").string();
  AUTOGLM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  return parse_hf_config(std::string(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

}  // namespace autoglm

#include "loader/generation_config.h"

#include <filesystem>
#include <new>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace autoglm {
namespace {

using Json = nlohmann::json;

constexpr const char* kFileName = "generation_config.json";

Status wrong_type(const std::string& origin, std::string_view key, const char* expected, const Json& got) {
  return parse_error(origin + ": key '" + std::string(key) + "' must be " + expected + ", got " +
                     got.type_name() + " " + got.dump());
}

// Absent or null leaves `out` empty. T is int64_t, double or bool.
template <typename T>
Status read_optional(const Json& root, const std::string& origin, std::string_view key,
                     std::optional<T>* out) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return Status::ok();
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return wrong_type(origin, key, "a boolean", *it);
  } else if constexpr (std::is_same_v<T, double>) {
    if (!it->is_number()) return wrong_type(origin, key, "a number", *it);
  } else {
    if (!it->is_number_integer()) return wrong_type(origin, key, "an integer", *it);
  }
  *out = it->template get<T>();
  return Status::ok();
}

Status read_token_ids(const Json& root, const std::string& origin, std::string_view key,
                      std::vector<int64_t>* out) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return Status::ok();
  if (it->is_number_integer()) {
    out->assign(1, it->get<int64_t>());
    return Status::ok();
  }
  if (!it->is_array()) return wrong_type(origin, key, "an integer or a list of integers", *it);
  out->clear();
  for (const Json& id : *it) {
    if (!id.is_number_integer()) return wrong_type(origin, key, "an integer or a list of integers", *it);
    out->push_back(id.get<int64_t>());
  }
  return Status::ok();
}

}  // namespace

Expected<GenerationConfig> parse_generation_config(const std::string& json_text, const std::string& origin) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    return parse_error(origin + ": not valid JSON: " + e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted(origin + ": out of memory while parsing");
  }
  if (!root.is_object())
    return parse_error(origin + ": top level is a JSON " + root.type_name() + ", not an object");
  GenerationConfig c;
  try {
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "temperature", &c.temperature));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "top_k", &c.top_k));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "top_p", &c.top_p));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "min_p", &c.min_p));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "repetition_penalty", &c.repetition_penalty));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "do_sample", &c.do_sample));
    AUTOGLM_RETURN_IF_ERROR(read_token_ids(root, origin, "eos_token_id", &c.eos_token_ids));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "bos_token_id", &c.bos_token_id));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "pad_token_id", &c.pad_token_id));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "max_new_tokens", &c.max_new_tokens));
    AUTOGLM_RETURN_IF_ERROR(read_optional(root, origin, "max_length", &c.max_length));
  } catch (const nlohmann::json::exception& e) {
    // Types are checked before each get; a throw here would be a bug of ours, still not a crash.
    return parse_error(origin + ": " + e.what());
  }
  return c;
}

Expected<GenerationConfig> load_generation_config(const std::string& model_dir_or_file) {
  std::error_code ec;
  std::string path = model_dir_or_file;
  if (std::filesystem::is_directory(path, ec)) path = (std::filesystem::path(path) / kFileName).string();
  if (!std::filesystem::exists(path, ec)) {
    // No generation_config.json beside the model is normal; a model directory that is not there is not.
    const bool names_a_file = std::string_view(path).ends_with(".json");
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!names_a_file || (!parent.empty() && !std::filesystem::is_directory(parent, ec))) {
      return not_found(model_dir_or_file + ": no such file or directory");
    }
    return GenerationConfig{};
  }
  AUTOGLM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  return parse_generation_config(std::string(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

}  // namespace autoglm

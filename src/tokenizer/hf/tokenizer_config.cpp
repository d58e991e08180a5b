#include "tokenizer/hf/tokenizer_config.h"

#include <sys/stat.h>
#include <algorithm>

#include "tokenizer/hf/json_field.h"

namespace autoglm::hf {
namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A special token given as "<s>" or as {"content": "<s>", "lstrip": false, ...}.
Expected<std::optional<AddedToken>> parse_named_token(const JsonField& parent, const char* key) {
  auto field = parent.find(key);
  if (!field) return std::optional<AddedToken>();
  AddedToken t;
  t.special = true;
  t.normalized = false;
  if (field->is_string()) {
    AUTOGLM_ASSIGN_OR_RETURN(t.content, field->as_string());
    return std::optional<AddedToken>(std::move(t));
  }
  if (!field->is_object()) return field->error("expected a string or an object");
  AUTOGLM_ASSIGN_OR_RETURN(t.content, field->string_at("content"));
  AUTOGLM_ASSIGN_OR_RETURN(t.lstrip, field->bool_or("lstrip", false));
  AUTOGLM_ASSIGN_OR_RETURN(t.rstrip, field->bool_or("rstrip", false));
  AUTOGLM_ASSIGN_OR_RETURN(t.single_word, field->bool_or("single_word", false));
  AUTOGLM_ASSIGN_OR_RETURN(t.normalized, field->bool_or("normalized", false));
  AUTOGLM_ASSIGN_OR_RETURN(t.special, field->bool_or("special", true));
  return std::optional<AddedToken>(std::move(t));
}

Status parse_special_tokens(const JsonField& root, TokenizerConfig& config) {
  struct Named {
    const char* key;
    std::optional<AddedToken>* slot;
  };
  const Named named[] = {{"bos_token", &config.bos_token},
                         {"eos_token", &config.eos_token},
                         {"unk_token", &config.unk_token},
                         {"pad_token", &config.pad_token}};
  for (const Named& n : named) {
    if (n.slot->has_value()) continue;
    AUTOGLM_ASSIGN_OR_RETURN(*n.slot, parse_named_token(root, n.key));
  }
  if (config.additional_special_tokens.empty()) {
    if (auto list = root.find("additional_special_tokens")) {
      if (!list->is_array()) return list->error("expected an array");
      for (size_t i = 0; i < list->size(); ++i) {
        const JsonField item = list->element(i);
        AddedToken t;
        t.special = true;
        t.normalized = false;
        if (item.is_string()) {
          AUTOGLM_ASSIGN_OR_RETURN(t.content, item.as_string());
        } else {
          AUTOGLM_ASSIGN_OR_RETURN(t.content, item.string_at("content"));
          AUTOGLM_ASSIGN_OR_RETURN(t.lstrip, item.bool_or("lstrip", false));
          AUTOGLM_ASSIGN_OR_RETURN(t.rstrip, item.bool_or("rstrip", false));
          AUTOGLM_ASSIGN_OR_RETURN(t.normalized, item.bool_or("normalized", false));
        }
        config.additional_special_tokens.push_back(std::move(t));
      }
    }
  }
  return Status::ok();
}

Status parse_config(const JsonField& root, TokenizerConfig& config) {
  if (!root.is_object()) return root.error("expected an object");
  AUTOGLM_ASSIGN_OR_RETURN(config.tokenizer_class, root.optional_string("tokenizer_class"));
  if (auto decoder = root.find("added_tokens_decoder")) {
    if (!decoder->is_object()) return decoder->error("expected an object");
    for (const auto& [key, value] : decoder->value().items()) {
      const JsonField entry(value, decoder->path() + "." + key, &root.file());
      if (!entry.is_object()) return entry.error("expected an object");
      AddedToken t;
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > kMaxTokenId)
        return entry.error("key is not a token id");
      t.id = static_cast<int32_t>(id);
      AUTOGLM_ASSIGN_OR_RETURN(t.content, entry.string_at("content"));
      AUTOGLM_ASSIGN_OR_RETURN(t.lstrip, entry.bool_or("lstrip", false));
      AUTOGLM_ASSIGN_OR_RETURN(t.rstrip, entry.bool_or("rstrip", false));
      AUTOGLM_ASSIGN_OR_RETURN(t.single_word, entry.bool_or("single_word", false));
      AUTOGLM_ASSIGN_OR_RETURN(t.normalized, entry.bool_or("normalized", true));
      AUTOGLM_ASSIGN_OR_RETURN(t.special, entry.bool_or("special", false));
      config.added_tokens_decoder.push_back(std::move(t));
    }
    std::stable_sort(config.added_tokens_decoder.begin(), config.added_tokens_decoder.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  }
  AUTOGLM_RETURN_IF_ERROR(parse_special_tokens(root, config));
  if (auto f = root.find("add_prefix_space")) {
    AUTOGLM_ASSIGN_OR_RETURN(bool v, f->as_bool());
    config.add_prefix_space = v;
  }
  if (auto f = root.find("add_bos_token")) {
    AUTOGLM_ASSIGN_OR_RETURN(bool v, f->as_bool());
    config.add_bos_token = v;
  }
  if (auto f = root.find("add_eos_token")) {
    AUTOGLM_ASSIGN_OR_RETURN(bool v, f->as_bool());
    config.add_eos_token = v;
  }
  return Status::ok();
}

}  // namespace

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Expected<std::optional<TokenizerConfig>> read_tokenizer_config(const std::string& dir) {
  const std::string config_path = dir + "/tokenizer_config.json";
  const std::string map_path = dir + "/special_tokens_map.json";
  const bool has_config = file_exists(config_path);
  const bool has_map = file_exists(map_path);
  if (!has_config && !has_map) return std::optional<TokenizerConfig>();
  TokenizerConfig config;
  if (has_config) {
    AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json doc, read_json_file(config_path));
    AUTOGLM_RETURN_IF_ERROR(parse_config(JsonField(doc, "", &config_path), config));
  }
  if (has_map) {
    AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json doc, read_json_file(map_path));
    const JsonField root(doc, "", &map_path);
    if (!root.is_object()) return root.error("expected an object");
    AUTOGLM_RETURN_IF_ERROR(parse_special_tokens(root, config));
  }
  return std::optional<TokenizerConfig>(std::move(config));
}

}  // namespace autoglm::hf

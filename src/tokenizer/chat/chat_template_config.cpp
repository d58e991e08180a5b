// tokenizer_config.json -> chat template and special tokens, as HF's tokenizer loading reads them.
#include <nlohmann/json.hpp>

#include "tokenizer/chat/chat_template.h"

namespace autoglm {
namespace {

// A special token is a string or an AddedToken dict {"content": ...}.
std::optional<std::string> token_text(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return std::nullopt;
}

Expected<nlohmann::json> parse_config(std::string_view config_json) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(config_json);
  } catch (const std::exception& e) {  // nlohmann reports malformed JSON by throwing
    return parse_error(std::string("tokenizer config: ") + e.what());
  }
  if (!config.is_object()) return parse_error("tokenizer config: not a JSON object");
  return config;
}

}  // namespace

Expected<ChatTemplateConfig> special_tokens_from_config(std::string_view config_json) {
  AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json config, parse_config(config_json));
  ChatTemplateConfig result;
  result.bos_token = token_text(config, "bos_token");
  result.eos_token = token_text(config, "eos_token");
  return result;
}

Expected<ChatTemplateConfig> chat_template_from_config(std::string_view config_json, std::string_view name) {
  AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json config, parse_config(config_json));
  ChatTemplateConfig result;
  result.bos_token = token_text(config, "bos_token");
  result.eos_token = token_text(config, "eos_token");
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return not_found("tokenizer config has no chat_template");
  if (it->is_string()) {
    result.chat_template = it->get<std::string>();
    return result;
  }
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (!entry.is_object()) continue;
      const auto n = entry.find("name");
      const auto t = entry.find("template");
      if (n != entry.end() && n->is_string() && t != entry.end() && t->is_string() &&
          n->get<std::string>() == name) {
        result.chat_template = t->get<std::string>();
        return result;
      }
    }
    return not_found("tokenizer config has no chat template named '" + std::string(name) + "'");
  }
  return parse_error("tokenizer config: chat_template is neither a string nor a list of named templates");
}

}  // namespace autoglm

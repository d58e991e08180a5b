#include "tokenizer/chat/chat_template_source.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/gguf_file.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;

Expected<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path.string() + ": cannot open");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The text of vocabulary entry `id_key` (e.g. the BOS token), when the file has both.
std::optional<std::string> gguf_token(const GgufFile& file, std::string_view id_key) {
  const std::optional<int64_t> id = file.get_int(id_key);
  const GgufArray* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!id || tokens == nullptr || *id < 0 || static_cast<size_t>(*id) >= tokens->strings.size())
    return std::nullopt;
  return tokens->strings[static_cast<size_t>(*id)];
}

Expected<ChatTemplateConfig> from_gguf(const std::string& path, std::string_view name) {
  AUTOGLM_ASSIGN_OR_RETURN(auto file, GgufFile::open(path));
  const std::string key =
      name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + std::string(name);
  std::optional<std::string> source = file->get_string(key);
  if (!source) return not_found(path + ": no " + key + " in the metadata");
  ChatTemplateConfig config;
  config.chat_template = std::move(*source);
  config.bos_token = gguf_token(*file, "tokenizer.ggml.bos_token_id");
  config.eos_token = gguf_token(*file, "tokenizer.ggml.eos_token_id");
  return config;
}

Expected<ChatTemplateConfig> from_folder(const fs::path& dir, std::string_view name) {
  std::error_code ec;
  ChatTemplateConfig special;  // BOS/EOS of tokenizer_config.json, whichever file holds the template
  std::optional<ChatTemplateConfig> from_tokenizer_config;
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    const fs::path config_path = dir / "tokenizer_config.json";
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_text(config_path));
    Expected<ChatTemplateConfig> tokens = special_tokens_from_config(text);
    if (!tokens.has_value()) return tokens.status().with_context(config_path.string());
    special = *tokens;
    Expected<ChatTemplateConfig> c = chat_template_from_config(text, name);
    if (c.has_value()) {
      from_tokenizer_config = *c;
    } else if (c.status().code() != StatusCode::kNotFound) {
      return c.status().with_context(config_path.string());
    }
  }
  if (name == "default" && fs::exists(dir / "chat_template.jinja", ec)) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_text(dir / "chat_template.jinja"));
    ChatTemplateConfig config = special;
    config.chat_template = std::move(text);
    return config;
  }
  if (from_tokenizer_config) return *from_tokenizer_config;
  if (fs::exists(dir / "chat_template.json", ec)) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_text(dir / "chat_template.json"));
    Expected<ChatTemplateConfig> c = chat_template_from_config(text, name);
    if (!c.has_value()) return c.status().with_context((dir / "chat_template.json").string());
    c->bos_token = special.bos_token;
    c->eos_token = special.eos_token;
    return c;
  }
  return not_found(dir.string() +
                   ": no chat template (looked for chat_template.jinja, tokenizer_config.json, "
                   "chat_template.json)");
}

}  // namespace

Expected<ChatTemplateConfig> find_chat_template(const std::string& model_path, std::string_view name) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return from_folder(model_path, name);
  if (model_path.size() > 5 && model_path.compare(model_path.size() - 5, 5, ".gguf") == 0)
    return from_gguf(model_path, name);
  // A tokenizer.json or similar file: its folder may hold the template.
  const fs::path parent = fs::path(model_path).parent_path();
  if (!parent.empty() && fs::is_directory(parent, ec)) return from_folder(parent, name);
  return not_found(model_path + ": no chat template");
}

}  // namespace autoglm

#include "tokenizer/hf/json_field.h"

#include <sys/stat.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace autoglm::hf {

const char* JsonField::type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::binary:
      return "binary";
    case nlohmann::json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

Status JsonField::error(const std::string& what) const {
  return parse_error(*file_ + ": " + (path_.empty() ? std::string("(root)") : path_) + ": " + what);
}

Status JsonField::unsupported(const std::string& what) const {
  return autoglm::unsupported(*file_ + ": " + (path_.empty() ? std::string("(root)") : path_) + ": " + what);
}

std::optional<JsonField> JsonField::find(std::string_view key) const {
  if (!value_->is_object()) return std::nullopt;
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  return JsonField(*it, std::move(path), file_);
}

Expected<JsonField> JsonField::at(std::string_view key) const {
  if (!value_->is_object()) return error(std::string("expected an object, got ") + type_name(*value_));
  auto field = find(key);
  if (!field) return error("missing \"" + std::string(key) + "\"");
  return *field;
}

JsonField JsonField::element(size_t index) const {
  return JsonField((*value_)[index], path_ + "[" + std::to_string(index) + "]", file_);
}

Expected<std::string> JsonField::as_string() const {
  if (!value_->is_string()) return error(std::string("expected a string, got ") + type_name(*value_));
  return value_->get_ref<const std::string&>();
}

Expected<bool> JsonField::as_bool() const {
  if (!value_->is_boolean()) return error(std::string("expected a boolean, got ") + type_name(*value_));
  return value_->get<bool>();
}

Expected<int64_t> JsonField::as_int() const {
  if (value_->is_number_unsigned()) {
    const uint64_t v = value_->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return error("integer out of range");
    return static_cast<int64_t>(v);
  }
  if (value_->is_number_integer()) return value_->get<int64_t>();
  return error(std::string("expected an integer, got ") + type_name(*value_));
}

Expected<double> JsonField::as_number() const {
  if (!value_->is_number()) return error(std::string("expected a number, got ") + type_name(*value_));
  return value_->get<double>();
}

Expected<std::string> JsonField::string_at(std::string_view key) const {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField f, at(key));
  return f.as_string();
}

Expected<std::string> JsonField::string_or(std::string_view key, std::string fallback) const {
  auto f = find(key);
  if (!f) return fallback;
  return f->as_string();
}

Expected<std::optional<std::string>> JsonField::optional_string(std::string_view key) const {
  auto f = find(key);
  if (!f) return std::optional<std::string>();
  AUTOGLM_ASSIGN_OR_RETURN(std::string s, f->as_string());
  return std::optional<std::string>(std::move(s));
}

Expected<bool> JsonField::bool_or(std::string_view key, bool fallback) const {
  auto f = find(key);
  if (!f) return fallback;
  return f->as_bool();
}

Expected<int64_t> JsonField::int_or(std::string_view key, int64_t fallback) const {
  auto f = find(key);
  if (!f) return fallback;
  return f->as_int();
}

Expected<JsonField> JsonField::object_at(std::string_view key) const {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField f, at(key));
  if (!f.is_object()) return f.error(std::string("expected an object, got ") + type_name(f.value()));
  return f;
}

Expected<JsonField> JsonField::array_at(std::string_view key) const {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField f, at(key));
  if (!f.is_array()) return f.error(std::string("expected an array, got ") + type_name(f.value()));
  return f;
}

Expected<nlohmann::json> parse_json_text(std::string_view text, const std::string& file) {
  // nlohmann reports the position of a syntax error only through its exception, caught here.
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return parse_error(file + ": " + e.what());
  }
}

Expected<std::string> read_text_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return invalid_argument(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path + ": read failed");
  return std::move(ss).str();
}

Expected<nlohmann::json> read_json_file(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_json_text(text, path);
}

}  // namespace autoglm::hf

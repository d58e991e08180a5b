// Typed, non-throwing access to a parsed JSON document (nlohmann::json) whose errors name the file and the
// JSON path of the offending value: "tokenizer.json: model.merges[3]: expected a string, got number".
// Internal to the HF loaders; the document must outlive every JsonField taken from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace autoglm::hf {

class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string path, const std::string* file)
      : value_(&value), path_(std::move(path)), file_(file) {}

  const nlohmann::json& value() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }

  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_null() const { return value_->is_null(); }
  bool is_string() const { return value_->is_string(); }

  // Member of an object; absent when missing or null (HF treats both alike).
  std::optional<JsonField> find(std::string_view key) const;
  Expected<JsonField> at(std::string_view key) const;
  // Element of an array (index < size()).
  JsonField element(size_t index) const;
  size_t size() const { return value_->size(); }

  Expected<std::string> as_string() const;
  Expected<bool> as_bool() const;
  Expected<int64_t> as_int() const;
  Expected<double> as_number() const;

  Expected<std::string> string_at(std::string_view key) const;
  Expected<std::string> string_or(std::string_view key, std::string fallback) const;
  Expected<std::optional<std::string>> optional_string(std::string_view key) const;
  Expected<bool> bool_or(std::string_view key, bool fallback) const;
  Expected<int64_t> int_or(std::string_view key, int64_t fallback) const;
  Expected<JsonField> object_at(std::string_view key) const;
  Expected<JsonField> array_at(std::string_view key) const;

  // kParseError "<file>: <path>: <what>".
  Status error(const std::string& what) const;
  // kUnsupported "<file>: <path>: <what>".
  Status unsupported(const std::string& what) const;

  // "string", "number", ... for messages.
  static const char* type_name(const nlohmann::json& value);

 private:
  const nlohmann::json* value_;
  std::string path_;
  const std::string* file_;
};

// Parses a whole JSON text without exceptions; kParseError naming the file when malformed.
Expected<nlohmann::json> parse_json_text(std::string_view text, const std::string& file);
// Reads and parses a file; kNotFound / kIoError / kParseError naming the file.
Expected<nlohmann::json> read_json_file(const std::string& path);
Expected<std::string> read_text_file(const std::string& path);

}  // namespace autoglm::hf

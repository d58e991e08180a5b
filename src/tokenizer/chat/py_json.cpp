#include "tokenizer/chat/py_json.h"

#include <algorithm>
#include <limits>

#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {
namespace {

void append_u_escape(std::string& out, uint32_t unit) {
  static const char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4)
    out.push_back(kHex[(unit >> shift) & 0xF]);
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  for (size_t pos = 0; pos < s.size();) {
    const auto byte = static_cast<unsigned char>(s[pos]);
    if (byte < 0x80) {
      switch (byte) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (byte < 0x20 || (ensure_ascii && byte == 0x7F)) {
            append_u_escape(out, byte);
          } else {
            out.push_back(static_cast<char>(byte));
          }
      }
      ++pos;
      continue;
    }
    const utf8::Decoded d = utf8::decode(s, pos);
    if (!ensure_ascii) {
      out.append(s.substr(pos, d.length));
    } else if (d.code_point > 0xFFFF) {
      const uint32_t v = d.code_point - 0x10000;
      append_u_escape(out, 0xD800 | (v >> 10));
      append_u_escape(out, 0xDC00 | (v & 0x3FF));
    } else {
      append_u_escape(out, d.code_point);
    }
    pos += d.length;
  }
  out.push_back('"');
}

std::string float_text(double value) {
  if (value != value) return "NaN";
  if (value == std::numeric_limits<double>::infinity()) return "Infinity";
  if (value == -std::numeric_limits<double>::infinity()) return "-Infinity";
  return py::float_repr(value);
}

Status type_error(const Value& value) {
  return invalid_argument("TypeError: Object of type " + py_type_name(value) + " is not JSON serializable");
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {}

  Status dump(const Value& value, int level) {
    if (level > kMaxValueDepth) return resource_exhausted("tojson: value nested too deeply");
    if (out.size() > options_.max_bytes) return resource_exhausted("tojson: text larger than the size limit");
    switch (value.kind()) {
      case ValueKind::kNone:
        out += "null";
        return Status::ok();
      case ValueKind::kBool:
        out += value.as_bool() ? "true" : "false";
        return Status::ok();
      case ValueKind::kInt:
        out += std::to_string(value.as_int());
        return Status::ok();
      case ValueKind::kFloat:
        out += float_text(value.as_double());
        return Status::ok();
      case ValueKind::kString:
        append_json_string(out, value.as_string(), options_.ensure_ascii);
        return Status::ok();
      case ValueKind::kList:
        return dump_list(value.as_list(), level);
      case ValueKind::kDict:
        return dump_dict(value.as_dict(), level);
      case ValueKind::kUndefined:
      case ValueKind::kObject:
        break;
    }
    return type_error(value);
  }

  std::string out;

 private:
  void newline(int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i)
      out += *options_.indent;
  }

  // Python's separator: the item separator, then the newline and indentation when indenting.
  void separator(int level) {
    out += options_.item_separator;
    if (options_.indent) newline(level);
  }

  Status dump_list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return Status::ok();
    }
    out.push_back('[');
    if (options_.indent) newline(level + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) separator(level + 1);
      AUTOGLM_RETURN_IF_ERROR(dump(items[i], level + 1));
    }
    if (options_.indent) newline(level);
    out.push_back(']');
    return Status::ok();
  }

  Status key_text(const Value& key, std::string* text) {
    switch (key.kind()) {
      case ValueKind::kString:
        *text = key.as_string();
        return Status::ok();
      case ValueKind::kFloat:
        *text = float_text(key.as_double());
        return Status::ok();
      case ValueKind::kBool:
        *text = key.as_bool() ? "true" : "false";
        return Status::ok();
      case ValueKind::kNone:
        *text = "null";
        return Status::ok();
      case ValueKind::kInt:
        *text = std::to_string(key.as_int());
        return Status::ok();
      case ValueKind::kUndefined:
      case ValueKind::kList:
      case ValueKind::kDict:
      case ValueKind::kObject:
        break;
    }
    return invalid_argument("TypeError: keys must be str, int, float, bool or None, not " +
                            py_type_name(key));
  }

  Status dump_dict(const Dict& dict, int level) {
    if (dict.empty()) {
      out += "{}";
      return Status::ok();
    }
    std::vector<const Dict::Entry*> entries;
    entries.reserve(dict.size());
    for (const auto& entry : dict)
      entries.push_back(&entry);
    if (options_.sort_keys) {
      bool comparable = true;
      for (const auto* entry : entries) {
        const Value& k = entry->first;
        if (k.is_string() != entries[0]->first.is_string() || !(k.is_string() || k.is_number()))
          comparable = false;
      }
      if (!comparable)
        return invalid_argument("TypeError: '<' not supported between dict keys of different types");
      std::stable_sort(entries.begin(), entries.end(), [](const Dict::Entry* a, const Dict::Entry* b) {
        if (a->first.is_string()) return a->first.as_string() < b->first.as_string();
        return a->first.as_double() < b->first.as_double();
      });
    }
    out.push_back('{');
    if (options_.indent) newline(level + 1);
    bool first = true;
    for (const Dict::Entry* entry : entries) {
      if (!first) separator(level + 1);
      first = false;
      std::string key;
      AUTOGLM_RETURN_IF_ERROR(key_text(entry->first, &key));
      append_json_string(out, key, options_.ensure_ascii);
      out += options_.key_separator;
      AUTOGLM_RETURN_IF_ERROR(dump(entry->second, level + 1));
    }
    if (options_.indent) newline(level);
    out.push_back('}');
    return Status::ok();
  }

  const JsonDumpOptions& options_;
};

}  // namespace

Expected<std::string> json_dumps(const Value& value, const JsonDumpOptions& options) {
  Dumper dumper(options);
  AUTOGLM_RETURN_IF_ERROR(dumper.dump(value, 0));
  return std::move(dumper.out);
}

}  // namespace autoglm::jinja

// Python's json.dumps on template values, byte for byte: what HF's `tojson` filter produces
// (json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) by default).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

struct JsonDumpOptions {
  // Escape every non-ASCII character as \uXXXX (surrogate pairs above U+FFFF).
  bool ensure_ascii = false;
  // Pretty-printing: nullopt is Python's indent=None (one line); otherwise the string repeated per level.
  std::optional<std::string> indent;
  // Python's defaults: (", ", ": ") without indent, (",", ": ") with one.
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  // kResourceExhausted once the text grows beyond this.
  size_t max_bytes = SIZE_MAX;
};

// Fails (kInvalidArgument, Python's TypeError text) on values JSON cannot hold: Undefined, namespaces,
// callables, dict keys that are not scalars, and sort_keys over keys of mixed types.
Expected<std::string> json_dumps(const Value& value, const JsonDumpOptions& options);

}  // namespace autoglm::jinja

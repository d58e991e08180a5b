#include "loader/safetensors_file.h"

#include <limits>
#include <new>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

namespace autoglm {
namespace {

using Json = nlohmann::json;
using U128 = unsigned __int128;

constexpr std::string_view kMetadataKey = "__metadata__";

// Safetensors spells dtypes in upper case ("BF16"); only the ones the engine computes with are accepted.
std::optional<DType> dtype_from_safetensors(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "I32") return DType::kI32;
  return std::nullopt;
}

// The length prefix is little-endian whatever the host is.
uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

std::string format_offsets(uint64_t begin, uint64_t end) {
  std::string s = "[";
  s += std::to_string(begin);
  s += ", ";
  s += std::to_string(end);
  s += "]";
  return s;
}

// Errors about one entry of the header: "<path>: tensor '<name>': <problem>".
class EntryErrors {
 public:
  EntryErrors(const std::string& path, const std::string& name)
      : prefix_(path + ": tensor '" + name + "': ") {}
  Status parse(const std::string& problem) const { return parse_error(prefix_ + problem); }
  Status unsupported_input(const std::string& problem) const { return unsupported(prefix_ + problem); }

 private:
  std::string prefix_;
};

// Reads `shape` into `out` and its element count into `numel`. The count is computed in 128 bits so that a
// hostile shape cannot wrap around to match a small byte range.
Status parse_shape(const Json& shape, const EntryErrors& errors, Shape* out, U128* numel) {
  if (shape.size() > static_cast<size_t>(Shape::kMaxDims)) {
    return errors.unsupported_input("rank " + std::to_string(shape.size()) + " exceeds the supported " +
                                    std::to_string(Shape::kMaxDims) + " dimensions");
  }
  int64_t dims[Shape::kMaxDims] = {};
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const Json& d = shape[i];
    if (d.is_number_integer() && !d.is_number_unsigned()) {
      return errors.parse("negative dim " + std::to_string(d.get<int64_t>()) + " in shape");
    }
    if (!d.is_number_unsigned()) return errors.parse("shape entries must be integers, got " + d.dump());
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return errors.parse("dim " + std::to_string(v) + " is too large");
    }
    dims[i] = static_cast<int64_t>(v);
    has_zero = has_zero || v == 0;
  }
  U128 n = 1;
  if (has_zero) {
    n = 0;
  } else {
    for (size_t i = 0; i < shape.size(); ++i) {
      n *= static_cast<uint64_t>(dims[i]);
      if (n > std::numeric_limits<uint64_t>::max()) return errors.parse("shape element count overflows");
    }
  }
  Shape::from_dims(dims, static_cast<int>(shape.size()), out);
  *numel = n;
  return Status::ok();
}

Status parse_offsets(const Json& offsets, const EntryErrors& errors, uint64_t* begin, uint64_t* end) {
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return errors.parse("'data_offsets' must be two non-negative integers, got " + offsets.dump());
  }
  *begin = offsets[0].get<uint64_t>();
  *end = offsets[1].get<uint64_t>();
  return Status::ok();
}

// Validates one header entry against the data section and fills `info` and its byte range.
Status parse_entry(const std::string& path, const std::string& name, const Json& value, uint64_t data_size,
                   TensorInfo* info, uint64_t* begin_out, uint64_t* end_out) {
  const EntryErrors errors(path, name);
  if (!value.is_object())
    return errors.parse(std::string("entry is a JSON ") + value.type_name() + ", not an object");
  const auto dtype_it = value.find("dtype");
  const auto shape_it = value.find("shape");
  const auto offsets_it = value.find("data_offsets");
  if (dtype_it == value.end()) return errors.parse("missing 'dtype'");
  if (shape_it == value.end()) return errors.parse("missing 'shape'");
  if (offsets_it == value.end()) return errors.parse("missing 'data_offsets'");
  if (!dtype_it->is_string()) return errors.parse("'dtype' must be a string, got " + dtype_it->dump());
  if (!shape_it->is_array()) return errors.parse("'shape' must be an array, got " + shape_it->dump());

  const std::string& dtype_name_str = dtype_it->get_ref<const std::string&>();
  const std::optional<DType> dtype = dtype_from_safetensors(dtype_name_str);
  if (!dtype) {
    return errors.unsupported_input("dtype '" + dtype_name_str +
                                    "' is not supported (supported: F32, F16, BF16, I32)");
  }
  Shape shape;
  U128 numel = 0;
  AUTOGLM_RETURN_IF_ERROR(parse_shape(*shape_it, errors, &shape, &numel));
  uint64_t begin = 0, end = 0;
  AUTOGLM_RETURN_IF_ERROR(parse_offsets(*offsets_it, errors, &begin, &end));
  if (begin > end)
    return errors.parse("data_offsets " + format_offsets(begin, end) + " are reversed (begin > end)");
  if (end > data_size) {
    return errors.parse("data_offsets " + format_offsets(begin, end) + " exceed the data section (" +
                        std::to_string(data_size) + " bytes)");
  }
  const U128 expected_bytes = numel * dtype_size(*dtype);
  if (expected_bytes != end - begin) {
    return errors.parse("shape " + shape.to_string() + " of " + dtype_name_str + " needs " +
                        (expected_bytes > std::numeric_limits<uint64_t>::max()
                             ? std::string("more than 2^64")
                             : std::to_string(static_cast<uint64_t>(expected_bytes))) +
                        " bytes but data_offsets " + format_offsets(begin, end) + " span " +
                        std::to_string(end - begin) + " (size mismatch)");
  }
  *info = TensorInfo{name, *dtype, shape, path};
  *begin_out = begin;
  *end_out = end;
  return Status::ok();
}

}  // namespace

Expected<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  SafetensorsFile file;
  file.file_ = std::move(mapped);
  // nlohmann throws; exceptions stop here. Field types are checked before each access, so a throw below would
  // be a bug of ours, but it still becomes a Status rather than a crash.
  try {
    AUTOGLM_RETURN_IF_ERROR(file.parse_header());
  } catch (const nlohmann::json::exception& e) {
    return parse_error(path + ": malformed header: " + e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted(path + ": out of memory while parsing the header");
  }
  return file;
}

Status SafetensorsFile::parse_header() {
  const std::string& path = file_.path();
  const uint64_t file_size = file_.size();
  if (file_size < 8) {
    return parse_error(path + ": file is " + std::to_string(file_size) +
                       " bytes, too short for the 8-byte header length");
  }
  const uint64_t header_len = read_le64(file_.data());
  if (header_len > file_size - 8) {
    return parse_error(path + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                       std::to_string(file_size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    return parse_error(path + ": header length " + std::to_string(header_len) +
                       " exceeds the sanity limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  }
  data_begin_ = 8 + header_len;
  const uint64_t data_size = file_size - data_begin_;

  // nlohmann keeps the last of duplicate keys silently; the parse callback sees every top-level key, so a
  // file naming a tensor twice is rejected instead of served with whichever entry came last.
  std::unordered_set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  const uint8_t* header = file_.data() + 8;
  Json root;
  try {
    root = Json::parse(header, header + header_len, on_event);
  } catch (const nlohmann::json::parse_error& e) {
    return parse_error(path + ": header is not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) return parse_error(path + ": duplicate tensor '" + duplicate + "' in the header");
  if (!root.is_object()) {
    return parse_error(path + ": header is a JSON " + root.type_name() + ", not an object");
  }
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) continue;  // free-form string map ({"format": "pt"}); nothing we need
    Entry entry;
    AUTOGLM_RETURN_IF_ERROR(parse_entry(path, name, value, data_size, &entry.info, &entry.begin, &entry.end));
    entries_.emplace(name, std::move(entry));
  }
  return Status::ok();
}

std::vector<std::string> SafetensorsFile::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [name, entry] : entries_)
    names.push_back(name);
  return names;
}

std::optional<TensorInfo> SafetensorsFile::info(std::string_view name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.info;
}

Expected<TensorView> SafetensorsFile::view(std::string_view name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return not_found(path() + ": no tensor '" + std::string(name) + "'");
  const Entry& entry = it->second;
  TensorView view;
  // TensorView carries a mutable pointer; the pages are mapped PROT_READ, so a stray write faults loudly.
  view.data = const_cast<uint8_t*>(file_.data() + data_begin_ + entry.begin);
  view.dtype = entry.info.dtype;
  view.shape = entry.info.shape;
  view.device = Device{};
  return view;
}

}  // namespace autoglm

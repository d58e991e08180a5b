#include "gguf/gguf_file.h"

#include <cstring>
#include <limits>

namespace autoglm {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 4;
// Sanity caps far above any real model, below what would exhaust memory before the byte checks bite.
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
constexpr uint32_t kMaxDims = 8;

}  // namespace

// Reads the header region with a cursor; every read checks the bytes that remain.
class GgufParser {
 public:
  GgufParser(std::string_view bytes, const std::string& origin) : bytes_(bytes), origin_(origin) {}

  Status parse(GgufFile& f);

 private:
  Status error(const std::string& what) const {
    return parse_error(origin_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  Status read(T* out, const char* what) {
    if (remaining() < sizeof(T)) return error(std::string("file ends inside ") + what);
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* out, const char* what) {
    uint64_t len = 0;
    AUTOGLM_RETURN_IF_ERROR(read(&len, what));
    if (len > kMaxStringBytes || len > remaining()) {
      return error(std::string(what) + " length " + std::to_string(len) + " exceeds the file");
    }
    out->assign(bytes_.data() + pos_, len);
    pos_ += len;
    return Status::ok();
  }

  static uint64_t min_element_bytes(GgufValueType t) {
    switch (t) {
      case GgufValueType::kUint8:
      case GgufValueType::kInt8:
      case GgufValueType::kBool:
        return 1;
      case GgufValueType::kUint16:
      case GgufValueType::kInt16:
        return 2;
      case GgufValueType::kUint32:
      case GgufValueType::kInt32:
      case GgufValueType::kFloat32:
        return 4;
      case GgufValueType::kUint64:
      case GgufValueType::kInt64:
      case GgufValueType::kFloat64:
      case GgufValueType::kString:
        return 8;
      case GgufValueType::kArray:
        return 12;
    }
    return 1;
  }

  Status read_scalar(GgufValueType type, GgufValue* v, GgufArray* into);
  Status read_value(GgufValueType type, GgufValue* v, int depth);

  std::string_view bytes_;
  const std::string& origin_;
  uint64_t pos_ = 0;
};

Status GgufParser::read_scalar(GgufValueType type, GgufValue* v, GgufArray* into) {
  auto put_int = [&](int64_t x) {
    if (into) {
      into->ints.push_back(x);
    } else {
      v->data = x;
    }
  };
  auto put_float = [&](double x) {
    if (into) {
      into->floats.push_back(x);
    } else {
      v->data = x;
    }
  };
  // A fixed-size integer or float of the tag's type, widened to i64 / double.
  auto read_int = [&](auto tag, const char* what) -> Status {
    decltype(tag) x{};
    AUTOGLM_RETURN_IF_ERROR(read(&x, what));
    put_int(x);
    return Status::ok();
  };
  auto read_float = [&](auto tag, const char* what) -> Status {
    decltype(tag) x{};
    AUTOGLM_RETURN_IF_ERROR(read(&x, what));
    put_float(x);
    return Status::ok();
  };
  switch (type) {
    case GgufValueType::kUint8:
      return read_int(uint8_t{}, "u8");
    case GgufValueType::kInt8:
      return read_int(int8_t{}, "i8");
    case GgufValueType::kUint16:
      return read_int(uint16_t{}, "u16");
    case GgufValueType::kInt16:
      return read_int(int16_t{}, "i16");
    case GgufValueType::kUint32:
      return read_int(uint32_t{}, "u32");
    case GgufValueType::kInt32:
      return read_int(int32_t{}, "i32");
    case GgufValueType::kInt64:
      return read_int(int64_t{}, "i64");
    case GgufValueType::kUint64: {
      uint64_t x;
      AUTOGLM_RETURN_IF_ERROR(read(&x, "u64"));
      if (into) {
        into->ints.push_back(static_cast<int64_t>(x));
      } else {
        v->data = x;
      }
      break;
    }
    case GgufValueType::kFloat32:
      return read_float(float{}, "f32");
    case GgufValueType::kFloat64:
      return read_float(double{}, "f64");
    case GgufValueType::kBool: {
      uint8_t x;
      AUTOGLM_RETURN_IF_ERROR(read(&x, "bool"));
      if (x > 1) return error("bool value " + std::to_string(x));
      if (into) {
        into->ints.push_back(x);
      } else {
        v->data = x != 0;
      }
      break;
    }
    case GgufValueType::kString: {
      std::string s;
      AUTOGLM_RETURN_IF_ERROR(read_string(&s, "string value"));
      if (into) {
        into->strings.push_back(std::move(s));
      } else {
        v->data = std::move(s);
      }
      break;
    }
    case GgufValueType::kArray:
      return internal_error("array read as a scalar");
  }
  return Status::ok();
}

Status GgufParser::read_value(GgufValueType type, GgufValue* v, int depth) {
  v->type = type;
  if (type != GgufValueType::kArray) return read_scalar(type, v, nullptr);
  if (depth >= kMaxArrayDepth) return error("arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  uint32_t element_raw = 0;
  uint64_t count = 0;
  AUTOGLM_RETURN_IF_ERROR(read(&element_raw, "array element type"));
  if (element_raw > static_cast<uint32_t>(GgufValueType::kFloat64)) {
    return error("unknown array element type " + std::to_string(element_raw));
  }
  AUTOGLM_RETURN_IF_ERROR(read(&count, "array length"));
  const auto element = static_cast<GgufValueType>(element_raw);
  if (count > remaining() / min_element_bytes(element)) {
    return error("array of " + std::to_string(count) + " elements exceeds the file");
  }
  auto array = std::make_shared<GgufArray>();
  array->element_type = element;
  for (uint64_t i = 0; i < count; ++i) {
    if (element == GgufValueType::kArray) {
      GgufValue nested;
      AUTOGLM_RETURN_IF_ERROR(read_value(element, &nested, depth + 1));
      array->arrays.push_back(std::move(nested));
    } else {
      AUTOGLM_RETURN_IF_ERROR(read_scalar(element, nullptr, array.get()));
    }
  }
  v->data = std::move(array);
  return Status::ok();
}

Status GgufParser::parse(GgufFile& f) {
  uint32_t magic = 0;
  AUTOGLM_RETURN_IF_ERROR(read(&magic, "magic"));
  if (magic != kMagic) return error("not a GGUF file (bad magic)");
  AUTOGLM_RETURN_IF_ERROR(read(&f.version_, "version"));
  if (f.version_ != 2 && f.version_ != 3) {
    return unsupported(origin_ + ": GGUF version " + std::to_string(f.version_) + " (supported: 2, 3)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  AUTOGLM_RETURN_IF_ERROR(read(&n_tensors, "tensor count"));
  AUTOGLM_RETURN_IF_ERROR(read(&n_kv, "metadata count"));
  // A key/value takes at least 12 bytes, a tensor entry at least 24: reject absurd counts before looping.
  if (n_kv > remaining() / 12) return error("metadata count " + std::to_string(n_kv) + " exceeds the file");
  if (n_tensors > remaining() / 24)
    return error("tensor count " + std::to_string(n_tensors) + " exceeds the file");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    AUTOGLM_RETURN_IF_ERROR(read_string(&key, "metadata key"));
    uint32_t type_raw = 0;
    AUTOGLM_RETURN_IF_ERROR(read(&type_raw, "metadata type"));
    if (type_raw > static_cast<uint32_t>(GgufValueType::kFloat64)) {
      return error("metadata '" + key + "' has unknown type " + std::to_string(type_raw));
    }
    GgufValue value;
    Status s = read_value(static_cast<GgufValueType>(type_raw), &value, 0);
    if (!s.is_ok()) return s.with_context("metadata '" + key + "'");
    if (f.metadata_.count(key)) return error("duplicate metadata key '" + key + "'");
    f.key_order_.push_back(key);
    f.metadata_.emplace(key, std::move(value));
  }
  if (const GgufValue* a = f.find("general.alignment")) {
    auto v = a->as_int();
    if (!v || *v <= 0 || (*v & (*v - 1)) != 0 || *v > 65536)
      return error("general.alignment must be a power of two");
    f.alignment_ = static_cast<uint64_t>(*v);
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    AUTOGLM_RETURN_IF_ERROR(read_string(&t.name, "tensor name"));
    uint32_t n_dims = 0;
    AUTOGLM_RETURN_IF_ERROR(read(&n_dims, "tensor rank"));
    if (n_dims == 0 || n_dims > kMaxDims)
      return error("tensor '" + t.name + "' has rank " + std::to_string(n_dims));
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      AUTOGLM_RETURN_IF_ERROR(read(&dim, "tensor dimension"));
      if (dim == 0 || dim > (uint64_t{1} << 40) || numel > (uint64_t{1} << 50) / dim) {
        return error("tensor '" + t.name + "' has dimension " + std::to_string(dim));
      }
      numel *= dim;
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    AUTOGLM_RETURN_IF_ERROR(read(&t.type, "tensor type"));
    AUTOGLM_RETURN_IF_ERROR(read(&t.offset, "tensor offset"));
    auto traits = ggml_type_traits(t.type);
    if (!traits) {
      return unsupported(origin_ + ": tensor '" + t.name + "' has ggml type " + std::to_string(t.type) +
                         ", unknown to this build");
    }
    if (t.dims[0] % traits->block_elements != 0) {
      return error("tensor '" + t.name + "': row of " + std::to_string(t.dims[0]) +
                   " elements is not a whole number of " + traits->name + " blocks");
    }
    t.bytes =
        numel / static_cast<uint64_t>(traits->block_elements) * static_cast<uint64_t>(traits->block_bytes);
    if (t.offset % f.alignment_ != 0) {
      return error("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not aligned to " +
                   std::to_string(f.alignment_));
    }
    if (f.tensor_index_.count(t.name)) return error("duplicate tensor '" + t.name + "'");
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }
  const uint64_t data_start = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  f.data_section_bytes_ = data_start <= bytes_.size() ? bytes_.size() - data_start : 0;
  for (const auto& t : f.tensors_) {
    if (t.offset > f.data_section_bytes_ || t.bytes > f.data_section_bytes_ - t.offset) {
      return parse_error(origin_ + ": tensor '" + t.name + "' [" + std::to_string(t.offset) + ", " +
                         std::to_string(t.offset + t.bytes) + ") lies past the end of the data section (" +
                         std::to_string(f.data_section_bytes_) + " bytes)");
    }
  }
  f.data_section_ = reinterpret_cast<const uint8_t*>(bytes_.data()) + data_start;
  return Status::ok();
}

Expected<std::unique_ptr<GgufFile>> GgufFile::parse(std::string_view bytes, const std::string& origin) {
  auto f = std::unique_ptr<GgufFile>(new GgufFile());
  f->path_ = origin;
  GgufParser parser(bytes, origin);
  AUTOGLM_RETURN_IF_ERROR(parser.parse(*f));
  f->data_section_ = nullptr;  // the bytes belong to the caller
  return f;
}

Expected<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  auto f = std::unique_ptr<GgufFile>(new GgufFile());
  f->path_ = path;
  std::string_view bytes(reinterpret_cast<const char*>(mapped.data()), mapped.size());
  GgufParser parser(bytes, path);
  AUTOGLM_RETURN_IF_ERROR(parser.parse(*f));
  f->file_ = std::move(mapped);
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  auto s = v->as_string();
  return s ? std::optional<std::string>(std::string(*s)) : std::nullopt;
}

const GgufArray* GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_array() : nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& info) const {
  return data_section_ == nullptr ? nullptr : data_section_ + info.offset;
}

}  // namespace autoglm

// GGUF (llama.cpp's model file format), versions 2 and 3: metadata key/values, tensor table, and the
// memory-mapped data section. Every count, length and offset is checked against the bytes that remain before
// anything is allocated, so a malformed or hostile file yields a Status naming the file and the problem.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count x (string key, u32
// type, value), tensor_count x (string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset),
// padding to `general.alignment` (default 32), data. Strings are u64 length + bytes; arrays are u32 element
// type + u64 count + elements. Tensor dims are innermost first (dims[0] is contiguous).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace autoglm {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

const char* gguf_value_type_name(GgufValueType type);

struct GgufValue;
// Arrays keep their element type; elements are stored in the widest C++ type of their kind.
struct GgufArray {
  GgufValueType element_type = GgufValueType::kUint8;
  std::vector<int64_t> ints;   // all integer and bool element types (u64 values above 2^63 wrap)
  std::vector<double> floats;  // f32 and f64
  std::vector<std::string> strings;
  std::vector<GgufValue> arrays;  // nested arrays
  size_t size() const;
};

struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  std::variant<int64_t, uint64_t, double, bool, std::string, std::shared_ptr<GgufArray>> data;

  std::optional<int64_t> as_int() const;   // any integer type (u64 above 2^63-1 fails) or bool
  std::optional<double> as_float() const;  // f32, f64, or any integer
  std::optional<std::string_view> as_string() const;
  const GgufArray* as_array() const;
  std::string to_string(size_t max_elements = 8) const;  // for `autoglm inspect`
};

// ggml tensor element types that GGUF files use; block geometry in ggml_type_traits().
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  const char* name;
  int64_t block_elements;  // elements per block (1 for plain types)
  int64_t block_bytes;     // bytes per block
};

// Traits of a known type; nullopt for type ids this build does not know (the caller reports them).
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // innermost first
  uint32_t type = 0;          // GgmlType value; may be one this build cannot compute with
  uint64_t offset = 0;        // from the start of the data section
  uint64_t bytes = 0;
  int64_t numel() const;
};

class GgufFile {
 public:
  // Parses the header, metadata and tensor table, and maps the file.
  static Expected<std::unique_ptr<GgufFile>> open(const std::string& path);
  // The same from bytes in memory (no tensor data access past them); for tests and fuzzing.
  static Expected<std::unique_ptr<GgufFile>> parse(std::string_view bytes, const std::string& origin);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::vector<std::string>& keys() const { return key_order_; }  // in file order
  const GgufValue* find(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const GgufArray* get_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes in the mapped data section (null for files parsed from memory).
  const uint8_t* tensor_data(const GgufTensorInfo& info) const;

 private:
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::string> key_order_;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  MappedFile file_;
  const uint8_t* data_section_ = nullptr;
  uint64_t data_section_bytes_ = 0;

  friend class GgufParser;
};

}  // namespace autoglm

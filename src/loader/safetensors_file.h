// One .safetensors file, memory-mapped and validated before anything in it is trusted.
//
// Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then the data section; offsets
// are relative to the start of the data section. Every check that protects a memory access (header length,
// offsets, sizes) happens in open(), so view() never reads outside the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "loader/weight_source.h"
#include "tensor/tensor.h"

namespace autoglm {

// Immutable after open(): const methods may be called from several threads at once.
class SafetensorsFile {
 public:
  // A header larger than this is rejected as corrupt: real headers are kilobytes to a few megabytes.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  // Maps and validates `path`. Errors name the path: kNotFound/kIoError (file), kParseError (malformed
  // header, offsets, sizes, duplicate names), kUnsupported (dtype other than F32/F16/BF16/I32, rank > 4).
  static Expected<SafetensorsFile> open(const std::string& path);

  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;

  const std::string& path() const { return file_.path(); }
  size_t size() const { return entries_.size(); }
  // Names in lexicographic order.
  std::vector<std::string> tensor_names() const;
  std::optional<TensorInfo> info(std::string_view name) const;
  // A host view of the mapped bytes (read-only pages: writing through it faults). Valid while this object
  // lives; moving the object keeps the mapping, so views survive a move. kNotFound names tensor and file.
  // The pointer is as aligned as the file makes it: the reference writer pads the header to 8 bytes, so
  // checkpoints saved by HF give 8-byte aligned data; offsets are not checked for alignment.
  Expected<TensorView> view(std::string_view name) const;
  // The whole mapped file, for callers that check a view lies inside it (tests).
  std::span<const uint8_t> bytes() const { return {file_.data(), file_.size()}; }

 private:
  struct Entry {
    TensorInfo info;
    uint64_t begin = 0;  // byte offsets into the data section
    uint64_t end = 0;
  };

  Status parse_header();

  MappedFile file_;
  size_t data_begin_ = 0;  // 8 + header length
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace autoglm

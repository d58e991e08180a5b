// Writes .safetensors files for tests: valid ones from named byte buffers, and raw ones from an arbitrary
// header string (and header length) to craft malformed input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace autoglm::test {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // safetensors spelling: "F32", "F16", "BF16", "I32" (any string is written as given)
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// The bytes of a host tensor, and an entry holding them (dtype spelled the safetensors way).
std::vector<uint8_t> tensor_bytes(const TensorView& t);
SafetensorsTensor safetensors_tensor(const std::string& name, const Tensor& t);

// A valid file image: entries packed in the given order, header padded with spaces to a multiple of 8 bytes
// (as the reference writer does, so that data stays 8-byte aligned), `__metadata__` {"format": "pt"}.
std::vector<uint8_t> encode_safetensors(const std::vector<SafetensorsTensor>& tensors);
// The header JSON that encode_safetensors writes, unpadded.
std::string safetensors_header(const std::vector<SafetensorsTensor>& tensors);
// 8-byte little-endian length (`header_len`, or header.size()), `header`, then `data`.
std::vector<uint8_t> encode_safetensors_raw(const std::string& header, const std::vector<uint8_t>& data,
                                            std::optional<uint64_t> header_len = std::nullopt);

// Writers; false when the file cannot be written.
bool write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
bool write_text(const std::string& path, const std::string& text);
bool write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors);
bool write_safetensors_raw(const std::string& path, const std::string& header,
                           const std::vector<uint8_t>& data,
                           std::optional<uint64_t> header_len = std::nullopt);

}  // namespace autoglm::test

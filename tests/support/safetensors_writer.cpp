#include "support/safetensors_writer.h"

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

namespace autoglm::test {
namespace {

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kI32:
      return "I32";
    case DType::kF8E4M3:
      return "F8_E4M3";
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_Kx8:
      break;  // safetensors has no block types
  }
  return "?";
}

}  // namespace

std::vector<uint8_t> tensor_bytes(const TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  return std::vector<uint8_t>(p, p + t.nbytes());
}

SafetensorsTensor safetensors_tensor(const std::string& name, const Tensor& t) {
  SafetensorsTensor out{name, safetensors_dtype(t.dtype()), {}, tensor_bytes(t.view())};
  for (int i = 0; i < t.shape().rank(); ++i)
    out.shape.push_back(t.shape()[i]);
  return out;
}

std::string safetensors_header(const std::vector<SafetensorsTensor>& tensors) {
  // ordered_json keeps the entries in the order given, like the reference writer keeps its layout order.
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  return header.dump();
}

std::vector<uint8_t> encode_safetensors(const std::vector<SafetensorsTensor>& tensors) {
  std::string header = safetensors_header(tensors);
  header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> data;
  for (const SafetensorsTensor& t : tensors)
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  return encode_safetensors_raw(header, data);
}

std::vector<uint8_t> encode_safetensors_raw(const std::string& header, const std::vector<uint8_t>& data,
                                            std::optional<uint64_t> header_len) {
  const uint64_t len = header_len.value_or(header.size());
  std::vector<uint8_t> out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<uint8_t>(len >> (8 * i));
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

bool write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

bool write_text(const std::string& path, const std::string& text) {
  return write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

bool write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors) {
  return write_bytes(path, encode_safetensors(tensors));
}

bool write_safetensors_raw(const std::string& path, const std::string& header,
                           const std::vector<uint8_t>& data, std::optional<uint64_t> header_len) {
  return write_bytes(path, encode_safetensors_raw(header, data, header_len));
}

}  // namespace autoglm::test

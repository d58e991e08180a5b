#include "support/gguf_writer.h"

#include <cstring>

namespace autoglm::test {

void GgufWriter::put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void GgufWriter::put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void GgufWriter::put_string(std::vector<uint8_t>& out, const std::string& s) {
  put_u64(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void GgufWriter::add_u32(const std::string& key, uint32_t v) {
  put_string(kv_, key);
  put_u32(kv_, 4);
  put_u32(kv_, v);
  ++n_kv_;
}

void GgufWriter::add_i32(const std::string& key, int32_t v) {
  put_string(kv_, key);
  put_u32(kv_, 5);
  put_u32(kv_, static_cast<uint32_t>(v));
  ++n_kv_;
}

void GgufWriter::add_f32(const std::string& key, float v) {
  put_string(kv_, key);
  put_u32(kv_, 6);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  put_u32(kv_, bits);
  ++n_kv_;
}

void GgufWriter::add_bool(const std::string& key, bool v) {
  put_string(kv_, key);
  put_u32(kv_, 7);
  kv_.push_back(v ? 1 : 0);
  ++n_kv_;
}

void GgufWriter::add_string(const std::string& key, const std::string& v) {
  put_string(kv_, key);
  put_u32(kv_, 8);
  put_string(kv_, v);
  ++n_kv_;
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& v) {
  put_string(kv_, key);
  put_u32(kv_, 9);
  put_u32(kv_, 8);
  put_u64(kv_, v.size());
  for (const auto& s : v)
    put_string(kv_, s);
  ++n_kv_;
}

void GgufWriter::add_f32_array(const std::string& key, const std::vector<float>& v) {
  put_string(kv_, key);
  put_u32(kv_, 9);
  put_u32(kv_, 6);
  put_u64(kv_, v.size());
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    put_u32(kv_, bits);
  }
  ++n_kv_;
}

void GgufWriter::add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  put_string(kv_, key);
  put_u32(kv_, 9);
  put_u32(kv_, 5);
  put_u64(kv_, v.size());
  for (int32_t x : v)
    put_u32(kv_, static_cast<uint32_t>(x));
  ++n_kv_;
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t ggml_type,
                            const std::vector<uint8_t>& data) {
  tensors_.push_back({name, std::move(dims), ggml_type, data});
}

std::vector<uint8_t> GgufWriter::bytes(uint64_t alignment) const {
  std::vector<uint8_t> out;
  put_u32(out, 0x46554747);
  put_u32(out, version_);
  put_u64(out, tensors_.size());
  put_u64(out, n_kv_);
  out.insert(out.end(), kv_.begin(), kv_.end());
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put_u32(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims)
      put_u64(out, d);
    put_u32(out, t.type);
    put_u64(out, offset);
    offsets.push_back(offset);
    offset += (t.data.size() + alignment - 1) / alignment * alignment;
  }
  while (out.size() % alignment != 0)
    out.push_back(0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.insert(out.end(), tensors_[i].data.begin(), tensors_[i].data.end());
    while ((out.size()) % alignment != 0)
      out.push_back(0);
  }
  return out;
}

}  // namespace autoglm::test

// Builds GGUF images byte by byte for tests: valid files and deliberately broken ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace autoglm::test {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3) : version_(version) {}

  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // dims innermost first; data is padded to the alignment by bytes().
  void add_tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t ggml_type,
                  const std::vector<uint8_t>& data);

  // The file image. alignment must match general.alignment if that key was added (default 32).
  std::vector<uint8_t> bytes(uint64_t alignment = 32) const;

  // Raw access for crafting broken files: appended verbatim to the metadata section.
  void add_raw_kv(const std::vector<uint8_t>& raw) {
    kv_.insert(kv_.end(), raw.begin(), raw.end());
    ++n_kv_;
  }

  static void put_u32(std::vector<uint8_t>& out, uint32_t v);
  static void put_u64(std::vector<uint8_t>& out, uint64_t v);
  static void put_string(std::vector<uint8_t>& out, const std::string& s);

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::vector<uint8_t> data;
  };
  uint32_t version_;
  std::vector<uint8_t> kv_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace autoglm::test

// Fuzz target: the GGUF reader and the model config built from its metadata, on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gguf/gguf_file.h"
#include "loader/gguf_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file =
      autoglm::GgufFile::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.gguf");
  if (!file) return 0;
  for (const auto& key : (*file)->keys())
    (void)(*file)->find(key)->to_string(4);
  for (const auto& t : (*file)->tensors())
    (void)autoglm::dtype_for_ggml_type(t.type);
  (void)autoglm::model_config_from_gguf(**file);
  return 0;
}

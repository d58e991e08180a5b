// Element types of tensors. Quantized block types (GGUF) will join this enum with their block geometry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace autoglm {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,  // token ids and positions
};

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "f32", "f16", "bf16", "i32"
// Accepts our names and the common aliases ("float32", "float16", "bfloat16", "half").
std::optional<DType> parse_dtype(std::string_view name);

}  // namespace autoglm

#include "tensor/dtype.h"

namespace autoglm {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kI32:
      return 4;
    case DType::kQ8_0:
      return 34;
    case DType::kQ4_0:
      return 18;
    case DType::kQ4_K:
      return 144;
    case DType::kQ5_K:
      return 176;
    case DType::kQ6_K:
      return 210;
    case DType::kQ4_Kx8:
      return 144;  // per 256 elements, as Q4_K
    case DType::kF8E4M3:
      return 1;
  }
  return 0;
}

int64_t dtype_block_elements(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
    case DType::kF8E4M3:
      return 1;
    case DType::kQ8_0:
    case DType::kQ4_0:
      return 32;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_Kx8:
      return 256;
  }
  return 1;
}

bool dtype_is_quantized(DType dtype) {
  return dtype_block_elements(dtype) > 1;
}

bool dtype_holds_weights(DType dtype) {
  return dtype != DType::kI32 && dtype != DType::kF8E4M3;
}

size_t dtype_bytes(DType dtype, int64_t n) {
  return static_cast<size_t>(n / dtype_block_elements(dtype)) * dtype_size(dtype);
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kI32:
      return "i32";
    case DType::kQ8_0:
      return "q8_0";
    case DType::kQ4_0:
      return "q4_0";
    case DType::kQ4_K:
      return "q4_k";
    case DType::kQ5_K:
      return "q5_k";
    case DType::kQ6_K:
      return "q6_k";
    case DType::kQ4_Kx8:
      return "q4_k_x8";
    case DType::kF8E4M3:
      return "f8_e4m3";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "f32" || name == "float32" || name == "float") return DType::kF32;
  if (name == "f16" || name == "float16" || name == "half") return DType::kF16;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name == "i32" || name == "int32") return DType::kI32;
  if (name == "q8_0") return DType::kQ8_0;
  if (name == "q4_0") return DType::kQ4_0;
  if (name == "q4_k") return DType::kQ4_K;
  if (name == "q5_k") return DType::kQ5_K;
  if (name == "q6_k") return DType::kQ6_K;
  if (name == "f8_e4m3" || name == "fp8" || name == "fp8_e4m3" || name == "float8_e4m3fn")
    return DType::kF8E4M3;
  return std::nullopt;
}

}  // namespace autoglm

// Element types of tensors: plain types, and GGUF's block-quantized types, which store a fixed number of
// elements per block of bytes (a row of a quantized matrix is a whole number of blocks).
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
  kI32,   // token ids and positions
  kQ8_0,  // 32 elements: f16 scale + 32 x int8
  kQ4_0,  // 32 elements: f16 scale + 16 bytes of 4-bit values (offset 8)
  kQ4_K,  // 256 elements: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of 4-bit values
  kQ5_K,  // 256 elements: as Q4_K plus 32 bytes of high bits
  kQ6_K,  // 256 elements: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, f16 d
  // Q4_K with each group of 8 rows interleaved (tensor/quant_repack.h): the CPU matmul's layout of Q4_K
  // weights, made at load. Same bytes per element as Q4_K; a row is not contiguous, so only whole groups of 8
  // rows are tensors of this type. Never in files.
  kQ4_Kx8,
  // FP8 E4M3 ("e4m3fn", core/fp8.h): one byte per element, no scale. The KV cache's 8-bit type.
  kF8E4M3,
};

// Bytes of one element of a plain type; for block types, the bytes of one block.
size_t dtype_size(DType dtype);
// Elements per block: 1 for plain types.
int64_t dtype_block_elements(DType dtype);
bool dtype_is_quantized(DType dtype);
// Whether model weights may have this type: the float and block types, not i32 (ids) nor f8_e4m3 (a KV
// cache type only).
bool dtype_holds_weights(DType dtype);
// Bytes of n elements (n a multiple of the block size for block types).
size_t dtype_bytes(DType dtype, int64_t n);
std::string_view dtype_name(DType dtype);  // "f32", "f16", "bf16", "i32", "q8_0", "q4_k", ...
// Accepts our names and the common aliases ("float32", "float16", "bfloat16", "half", "fp8").
std::optional<DType> parse_dtype(std::string_view name);

}  // namespace autoglm

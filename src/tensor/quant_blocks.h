// GGUF's block-quantized formats (ggml's Q8_0, Q4_0, Q4_K, Q5_K, Q6_K): their byte layout, the reference
// dequantization and round-to-nearest quantizers.
//
// A row of a quantized matrix is a whole number of blocks laid end to end, no padding: a block of 32 (Q8_0,
// Q4_0) or a super-block of 256 elements (the K types) is a fixed number of bytes (dtype_size). Multi-byte
// fields are little-endian, f16 scales are IEEE binary16. Element e of a block is:
//   Q8_0  d * qs[e]                                     (qs int8)
//   Q4_0  d * ((qs[e] & 15) - 8) for e < 16,  d * ((qs[e - 16] >> 4) - 8) for e >= 16
//   Q4_K  d * sc[g] * q(e) - dmin * mn[g],  g = e / 32 (8 sub-blocks of 32), q(e) a 4-bit code:
//         bytes qs[32p, 32p + 32) hold sub-block 2p in their low nibbles and sub-block 2p + 1 in their high
//         nibbles (p = 0..3): q(64p + l) = qs[32p + l] & 15, q(64p + 32 + l) = qs[32p + l] >> 4.
//         sc and mn are 6-bit, packed in scales[12] (k_quant_scale_min): for g < 4, sc[g] = scales[g] & 63
//         and mn[g] = scales[g + 4] & 63; for g >= 4, the low 4 bits of sc[g] / mn[g] are the low / high
//         nibble of scales[g + 4], and their high 2 bits are the top 2 bits of scales[g - 4] / scales[g].
//   Q5_K  as Q4_K with a 5th bit: q(64p + l) += 16 * bit 2p of qh[l], q(64p + 32 + l) += 16 * bit 2p+1 of
//   qh[l]. Q6_K  d * scales[e / 16] * (q(e) - 32), q(e) 6-bit; per half h (128 elements, ql += 64h, qh +=
//   32h), l < 32:
//         q(l)      = (ql[l] & 15)      | ((qh[l] >> 0) & 3) << 4
//         q(l + 32) = (ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4
//         q(l + 64) = (ql[l] >> 4)      | ((qh[l] >> 4) & 3) << 4
//         q(l + 96) = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4
// These are ggml's reference dequantization formulas (ggml-quants.c, dequantize_row_*), which GGUF files
// written by llama.cpp assume; dequantize_row computes them in the same f32 operation order (d * sc first,
// then times q, minus dmin * mn), so its values are those llama.cpp's reference produces (d * sc * q is exact
// in f32 for Q4_K/Q5_K, so a fused multiply-subtract gives the same values too).
//
// The quantizers are plain round-to-nearest: Q8_0 and Q4_0 reproduce ggml's reference quantizers byte for
// byte; Q4_K, Q5_K and Q6_K take each sub-block's range (min/max), round the sub-block scales to the 6-/8-bit
// grid of the super-block scale, then round every value with the rounded scales. ggml's reference for those
// additionally searches the scale that minimizes the weighted squared error, so its bytes (not its format)
// differ; the error bounds are in quant_blocks.cpp.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "tensor/dtype.h"

namespace autoglm {

inline constexpr int64_t kQuantBlockElements = 32;        // Q8_0, Q4_0
inline constexpr int64_t kQuantSuperBlockElements = 256;  // Q4_K, Q5_K, Q6_K

// Block structs are named after GGUF's types without the underscore (BlockQ80 is Q8_0, BlockQ4K is Q4_K).
struct BlockQ80 {
  uint16_t d;     // f16 scale
  int8_t qs[32];  // values
};
static_assert(sizeof(BlockQ80) == 34);

struct BlockQ40 {
  uint16_t d;      // f16 scale
  uint8_t qs[16];  // element j in the low nibble of qs[j], element j + 16 in its high nibble; offset 8
};
static_assert(sizeof(BlockQ40) == 18);

struct BlockQ4K {
  uint16_t d;          // f16 scale of the 6-bit sub-block scales
  uint16_t dmin;       // f16 scale of the 6-bit sub-block mins
  uint8_t scales[12];  // 8 scales and 8 mins, 6 bits each (k_quant_scale_min)
  uint8_t qs[128];     // 4-bit codes, see the header comment for their order
};
static_assert(sizeof(BlockQ4K) == 144);

struct BlockQ5K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // 5th bits: bit 2p of qh[l] for element 64p + l, bit 2p + 1 for element 64p + 32 + l
  uint8_t qs[128];  // low 4 bits, as Q4_K
};
static_assert(sizeof(BlockQ5K) == 176);

struct BlockQ6K {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // one per 16 elements
  uint16_t d;         // f16 super-block scale
};
static_assert(sizeof(BlockQ6K) == 210);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K or Q5_K super-block.
inline void k_quant_scale_min(const uint8_t* scales, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// dst[0, n) = the n elements stored at src as f32. Block types need n to be a multiple of
// dtype_block_elements(dtype); f32, f16 and bf16 are widened (exact). Not for i32 (writes zeros) nor for
// q4_k_x8, whose rows are not contiguous (writes NaN; tensor/quant_repack.h unpacks it).
void dequantize_row(DType dtype, const void* src, float* dst, int64_t n);

// Stores src[0, n) at dst in dtype (dtype_bytes(dtype, n) bytes): block types by round-to-nearest (see the
// header comment), f16/bf16 rounded to nearest even, f32 copied. kInvalidArgument when n is not a multiple of
// the block, kUnsupported for i32.
Status quantize_row(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace autoglm

// Q4_K weights with 8 rows interleaved (DType::kQ4_Kx8): the layout the CPU decode matmul reads.
//
// Why: a Q4_K row dot spends most of its instructions on the sub-block scales (one int32 -> f32 conversion
// and one FMA per 32 codes, plus the 6-bit scale unpacking per super-block), ~13 vector operations per 64
// weights, so one core consumes ~20 GB/s of weights: under the memory's rate on two cores. With 8 rows side
// by side, one 32-byte vector holds 4 code bytes of each of 8 rows, an int8 dot product against 4 x values
// broadcast to every lane adds to 8 rows at once, and the scales of a sub-block are applied to 8 rows by one
// conversion and one FMA: ~5 vector operations per 64 weights. The codes, scales and mins are not changed,
// only moved (the same 144 bytes per 256 weights; no dequantization at load).
//
// Group layout, per super-block index i (elements 256i..256i+255 of the 8 rows r = 0..7), 1,152 bytes:
//   d[r], dmin[r]       the rows' f16 super-block scales
//   scales[8c + r]      byte c (0..11) of row r's 12 packed scale/min bytes
//   qs[256p + 32t + 4r + b] = row r's qs[32p + 4t + b]  (chunk p = 0..3, t = 0..7, b = 0..3)
// so qs[256p + 32t, +32) holds, for each row, the low nibbles = elements 64p + 4t + b (sub-block 2p) and
// the high nibbles = elements 64p + 32 + 4t + b (sub-block 2p + 1). A [n, k] tensor (n a multiple of 8)
// is n / 8 groups of k / 256 such blocks, group g at byte 8 g row_bytes(k): row ranges that start and end
// at multiples of 8 stay valid views.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "tensor/tensor.h"

namespace autoglm {

inline constexpr int64_t kQ4Kx8Rows = 8;

struct BlockQ4Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[96];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4Kx8) == 8 * 144);

// Rewrites rows x k Q4_K weights (rows a multiple of 8, k of 256) at data as q4_k_x8, in place.
Status repack_q4_k_x8(void* data, int64_t rows, int64_t k);

// A [rows, k] Q4_K host tensor rewritten in place and returned as q4_k_x8 (the same storage).
Expected<Tensor> interleaved_q4_k(const Tensor& t);

// The inverse, out of place: rows x k Q4_K weights at dst from the q4_k_x8 groups at src.
void unpack_q4_k_x8(const void* src, void* dst, int64_t rows, int64_t k);

}  // namespace autoglm

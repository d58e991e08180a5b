// f8_e4m3 cache values widened to f32 eight at a time, for the CPU attention's narrow-cache rows
// (paged_attention.cpp widens a decode row's K / V into a buffer, a prefill's visible rows once per call).
//
// The same values as core/fp8.h's scalar fp8_e4m3_to_f32 (NaN stays NaN, -0 stays -0, subnormals exact), by
// integer vector operations on the bit fields: sign to bit 31, exponent + (127 - 7) and mantissa into the
// f32 fields for normal codes; the mantissa converted and scaled by 2^-9 for subnormal codes (an exact
// product of small integers, never a subnormal float, so denormals-are-zero modes do not change it).
// About 15 vector operations per 8 values where a 256-entry table costs a load and a store per value.
// Always-inline: it takes the target of the kernel function it is inlined into (target_clones).
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/vec_exp.h"
#include "core/fp8.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm::cpu_vec {

AUTOGLM_VEC_INLINE Vec8 widen_fp8_e4m3x8(const uint8_t* x) {
  using U8x8 = uint8_t __attribute__((vector_size(8)));
  using U32x8 = uint32_t __attribute__((vector_size(32)));
  U8x8 bytes;
  std::memcpy(&bytes, x, sizeof bytes);
  const U32x8 w = __builtin_convertvector(bytes, U32x8);
  const U32x8 sign = (w & 0x80u) << 24;
  const U32x8 magnitude = w & 0x7fu;
  const U32x8 normal = sign | ((magnitude << 20) + (120u << 23));
  const Int8 mantissa = __builtin_convertvector(magnitude & 7u, Int8);
  const Vec8 small = __builtin_convertvector(mantissa, Vec8) * splat(0.001953125f);  // mant * 2^-9
  U32x8 small_bits;
  std::memcpy(&small_bits, &small, sizeof small_bits);
  U32x8 bits = (magnitude >> 3) == 0u ? (sign | small_bits) : normal;
  bits = magnitude == 0x7fu ? (sign | 0x7fc00000u) : bits;
  Vec8 out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// out[0, n) = the f32 values of x[0, n).
AUTOGLM_VEC_INLINE void widen_fp8_e4m3(const uint8_t* x, int64_t n, float* out) {
  int64_t d = 0;
  for (; d + kWidth <= n; d += kWidth)
    store(out + d, widen_fp8_e4m3x8(x + d));
  for (; d < n; ++d)
    out[d] = fp8_e4m3_to_f32(x[d]);
}

}  // namespace autoglm::cpu_vec

#pragma GCC diagnostic pop

// FP8 E4M3 (the OCP "e4m3fn" format: 1 sign, 4 exponent bits of bias 7, 3 mantissa bits; no infinities,
// S.1111.111 is NaN; largest finite 448, smallest subnormal 2^-9) <-> float32. Host and device: the CUDA
// cache stores round exactly as the CPU does, so CPU and GPU caches hold the same bytes.
// Rounding: to nearest even, saturating to +-448 (finite inputs beyond it and infinities), NaN kept NaN
//   (the semantics of PTX cvt.rn.satfinite.e4m3x2.f32). Decoding is exact: every e4m3 value is a float.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define AUTOGLM_FP8_FN __host__ __device__ inline
#else
#define AUTOGLM_FP8_FN inline
#endif

namespace autoglm {

AUTOGLM_FP8_FN float fp8_e4m3_to_f32(uint8_t x) {
  const uint32_t sign = static_cast<uint32_t>(x & 0x80u) << 24;
  const uint32_t exp = (x >> 3) & 0xfu;
  const uint32_t mant = x & 0x7u;
  uint32_t bits;
  if (exp == 0xfu && mant == 0x7u) {
    bits = sign | 0x7fc00000u;  // NaN
  } else if (exp == 0) {
    // Subnormal: mant * 2^-9, exact in a float.
    const float v = static_cast<float>(mant) * 0.001953125f;
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  } else {
    bits = sign | (exp + 127 - 7) << 23 | mant << 20;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

AUTOGLM_FP8_FN uint8_t f32_to_fp8_e4m3(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);   // NaN
  if (abs >= 0x43e00000u) return static_cast<uint8_t>(sign | 0x7eu);  // >= 448 (and inf): saturate
  if (abs < 0x3c800000u) {                                            // below 2^-6: subnormal steps of 2^-9
    float a;
    std::memcpy(&a, &abs, 4);
    // a * 512 is exact; rintf rounds half to even (the default rounding mode). 8 steps is the smallest
    // normal, whose code 0x08 the same arithmetic gives.
    return static_cast<uint8_t>(sign | static_cast<uint8_t>(rintf(a * 512.0f)));
  }
  // Normal: the float's mantissa rounded to 3 bits (ties to even; a carry bumps the exponent). Inputs
  // below 448 round to at most 448 (0x7e), so the NaN code is never made here.
  const uint32_t rounded = abs + 0x7ffffu + ((abs >> 20) & 1u);
  const uint32_t exp = (rounded >> 23) - 127 + 7;
  const uint32_t mant = (rounded >> 20) & 0x7u;
  return static_cast<uint8_t>(sign | exp << 3 | mant);
}

}  // namespace autoglm

// exp over 8 floats at a time, for the CPU kernels whose scalar expf calls dominate a decode step's small ops
// (SiLU, softmax, attention probabilities). g++ does not vectorize expf without -ffast-math, so this is the
// classic range reduction: x = n ln2 + r with |r| <= ln2/2 (ln2 split in a high part exact in float and a
// low correction), exp(r) by a degree-6 polynomial (Cephes' expf coefficients), and 2^n built in the exponent
// bits. Relative error about 2 ulp over the clamped range.
//
// Inputs are clamped to [-87.3, 88.7]: below, the result is ~1e-38 instead of a denormal or 0 (harmless
// for every caller: a probability of 1e-38 next to a maximum of 1, or silu(g) of a very negative g, where
// g / (1 + 1e38) rounds to -0 anyway); above, float overflows. NaN inputs stay NaN.
//
// Vec8 is a GCC/Clang vector extension: one AVX2 register where the including function is compiled for
// x86-64-v3 (target_clones), two SSE registers otherwise. Everything here is always-inline so it takes the
// target of the function it is inlined into.
#pragma once

#include <cstdint>
#include <cstring>

// The 32-byte vectors never cross a non-inlined call, so the ABI note about them concerns no real call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm::cpu_vec {

using Vec8 = float __attribute__((vector_size(32)));
using Int8 = int32_t __attribute__((vector_size(32)));
constexpr int kWidth = 8;

#define AUTOGLM_VEC_INLINE inline __attribute__((always_inline))

AUTOGLM_VEC_INLINE Vec8 load(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

AUTOGLM_VEC_INLINE void store(float* p, Vec8 v) {
  std::memcpy(p, &v, sizeof v);
}

AUTOGLM_VEC_INLINE Vec8 splat(float f) {
  return Vec8{f, f, f, f, f, f, f, f};
}

AUTOGLM_VEC_INLINE Vec8 select(Int8 mask, Vec8 a, Vec8 b) {
  return mask ? a : b;
}

AUTOGLM_VEC_INLINE Vec8 exp(Vec8 x) {
  const Vec8 lo = splat(-87.3f), hi = splat(88.7f);
  // NaN compares false both ways, so it passes through both clamps unchanged.
  x = select(x < lo, lo, x);
  x = select(x > hi, hi, x);
  // n = round(x / ln2): floor(x * log2e + 0.5) through a truncating conversion corrected for negatives.
  Vec8 t = x * splat(1.44269504088896341f) + splat(0.5f);
  Int8 n = __builtin_convertvector(t, Int8);
  Vec8 fn = __builtin_convertvector(n, Vec8);
  const Int8 too_big = fn > t;
  n += too_big;  // too_big is -1 where truncation rounded up (t < 0 with a fraction)
  fn = __builtin_convertvector(n, Vec8);
  const Vec8 r = x - fn * splat(0.693359375f) - fn * splat(-2.12194440e-4f);
  Vec8 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * (r * r) + r + splat(1.0f);
  // 2^n: n + 127 in the exponent field. n is in [-126, 128] after the clamp; 128 only at the top edge,
  // where p < 1 keeps the product finite, so scale in two steps there.
  const Int8 half = n >> 1;
  Int8 e1 = (half + 127) << 23, e2 = (n - half + 127) << 23;
  Vec8 s1, s2;
  std::memcpy(&s1, &e1, sizeof s1);
  std::memcpy(&s2, &e2, sizeof s2);
  return p * s1 * s2;
}

}  // namespace autoglm::cpu_vec

#pragma GCC diagnostic pop

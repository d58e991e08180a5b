// The x86 row dot of Q4_K weights with 8 rows interleaved (DType::kQ4_Kx8, tensor/quant_repack.h), for the
// decode path of quant_matmul.cpp. Included only by quant_matmul_x86.h (so by the AVX2 and the AVX-512
// VNNI files, each under its target pragma); self-contained, in an anonymous namespace.
//
// One 32-byte vector of codes holds 4 bytes of each of 8 rows: its low nibbles are 4 consecutive elements
// of sub-block 2p of every row, its high nibbles 4 of sub-block 2p + 1, so an int8 dot product against the
// 4 matching x values broadcast to all lanes adds 4 products to each row's lane. 8 such vectors complete a
// sub-block pair, whose int32 sums then take their scales for all 8 rows at once: one conversion and one
// FMA per sub-block and 8 rows, where a single-row kernel spends them per sub-block and row.
//   VNNI: the high nibbles stay in place (codes times 16, one AND instead of shift + AND) and vpdpbusd adds
//   into int32 (at most 240 * 127 * 32 per lane); the factor 16 leaves the sub-block's f32 partials exactly
//   16 times the AVX2 ones (a power of two), removed by the FMA that joins the two halves, so both paths
//   give the same bits.
//   AVX2: vpmaddubsw pairs (at most 2 * 15 * 127) summed in int16 over the 8 vectors of a sub-block (at
//   most 30,480), widened by one vpmaddwd per sub-block.
// Per super-block and row: out += d * sum_g(dot_g * (sc_g * dx_g)) - dmin * sum_g(mn_g * sum32_g), the
// sums over the even and the odd sub-blocks kept apart and added before d is applied; the scalar kernel
// (quant_matmul_scalar.cpp) does the same f32 operations in the same order.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

// The 8 sub-block scales and mins of 8 rows, unpacked to bytes: sc[8g + r], mn[8g + r].
struct K4ScalesX8 {
  alignas(32) uint8_t sc[64];
  alignas(32) uint8_t mn[64];
};

inline void unpack_scales_x8(const uint8_t* scales, K4ScalesX8* out) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales));       // bytes 0-3
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 32));  // bytes 4-7
  const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 64));  // bytes 8-11
  const __m256i low6 = _mm256_set1_epi8(0x3f), low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
  // Bits 6-7 of a byte become bits 4-5 by a 16-bit shift right by 2 (the bits shifted in from the next
  // byte land in bits 6-7, masked off).
  const __m256i sc47 =
      _mm256_or_si256(_mm256_and_si256(c, low4), _mm256_and_si256(_mm256_srli_epi16(a, 2), bits45));
  const __m256i mn47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low4),
                                       _mm256_and_si256(_mm256_srli_epi16(b, 2), bits45));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->sc), _mm256_and_si256(a, low6));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->sc + 32), sc47);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->mn), _mm256_and_si256(b, low6));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->mn + 32), mn47);
}

inline __m256 bytes8_to_f32(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// The int32 dot products of sub-blocks 2p (lo) and 2p + 1 (hi) of 8 rows with x's codes xq (the super-block's
// 256); VNNI's hi is 16 times the true value.
template <bool kVnni>
inline void dot_pair_x8(const uint8_t* qs, const int8_t* xq, __m256i* lo, __m256i* hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  if constexpr (kVnni) {
    const __m256i high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * t));
      a = _mm256_dpbusd_epi32(a, _mm256_and_si256(q, low4), broadcast4(xq + 4 * t));
      b = _mm256_dpbusd_epi32(b, _mm256_and_si256(q, high4), broadcast4(xq + 32 + 4 * t));
    }
    *lo = a;
    *hi = b;
  } else {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * t));
      a = _mm256_add_epi16(a, _mm256_maddubs_epi16(_mm256_and_si256(q, low4), broadcast4(xq + 4 * t)));
      b = _mm256_add_epi16(b, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                                   broadcast4(xq + 32 + 4 * t)));
    }
    const __m256i ones = _mm256_set1_epi16(1);
    *lo = _mm256_madd_epi16(a, ones);
    *hi = _mm256_madd_epi16(b, ones);
  }
}

// 8 outputs (rows of one group) for one x row.
template <bool kVnni>
inline __m256 group_dot_x8(const QuantizedXRow& x, const BlockQ4Kx8* blocks, int64_t n_blocks) {
  const __m256 hi_unit = _mm256_set1_ps(kVnni ? 1.0f / 16.0f : 1.0f);
  __m256 acc = _mm256_setzero_ps();
  K4ScalesX8 s;
  for (int64_t i = 0; i < n_blocks; ++i) {
    const BlockQ4Kx8& b = blocks[i];
    unpack_scales_x8(b.scales, &s);
    const int8_t* xq = x.q + 256 * i;
    const float* dx = x.d + 8 * i;
    const float* sum32 = x.sum32 + 8 * i;
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
      __m256i lo, hi;
      dot_pair_x8<kVnni>(b.qs + 256 * p, xq + 64 * p, &lo, &hi);
      const int g = 2 * p;
      even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo),
                             _mm256_mul_ps(bytes8_to_f32(s.sc + 8 * g), _mm256_broadcast_ss(dx + g)), even);
      odd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi),
                            _mm256_mul_ps(bytes8_to_f32(s.sc + 8 * g + 8), _mm256_broadcast_ss(dx + g + 1)),
                            odd);
      mins = _mm256_fmadd_ps(bytes8_to_f32(s.mn + 8 * g), _mm256_broadcast_ss(sum32 + g), mins);
      mins = _mm256_fmadd_ps(bytes8_to_f32(s.mn + 8 * g + 8), _mm256_broadcast_ss(sum32 + g + 1), mins);
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.dmin)));
    acc = _mm256_fmadd_ps(_mm256_fmadd_ps(odd, hi_unit, even), d, acc);
    acc = _mm256_fnmadd_ps(mins, dmin, acc);
  }
  return acc;
}

// QuantRowsDotFn over groups of 8 rows: w at a group's start, n_rows a multiple of 8.
template <bool kVnni>
void rows_dot_q4_k_x8(const QuantizedXRow* x, int64_t m, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
                      int64_t n_blocks, const float* bias, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n_rows; j += kQ4Kx8Rows) {
    const auto* blocks = reinterpret_cast<const BlockQ4Kx8*>(w + j * row_bytes);
    for (int64_t i = 0; i < m; ++i) {
      __m256 v = group_dot_x8<kVnni>(x[i], blocks, n_blocks);
      if (bias != nullptr) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
      _mm256_storeu_ps(out + i * ldo + j, v);
    }
  }
}

}  // namespace
}  // namespace autoglm

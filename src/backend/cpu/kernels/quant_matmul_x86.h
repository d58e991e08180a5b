// The x86 bodies of the quantized matmul kernels (quant_matmul_kernels.h), shared by the AVX2 and the
// AVX-512 VNNI files. Included ONLY by quant_matmul_avx2.cpp and quant_matmul_avx512.cpp, each between
// `#pragma GCC push_options / target(...)` and `pop_options`, so every function here is compiled for that
// file's instruction set; everything is in an anonymous namespace, so the two compilations never merge at
// link time (the AVX-512 copy must not stand in for the AVX2 one).
//
// Row dot (decode): 256-bit vectors; per 32 weight codes one dot4 (32 u8 x s8 products summed by 4 into 8
// int32 lanes: vpmaddubsw + vpmaddwd, or one VNNI vpdpbusd), converted to f32 and multiply-added with the
// block's scale (d_w * d_x, computed 8 blocks or 8 sub-blocks at a time and broadcast from the stack, a load
// rather than a shuffle; Q6_K: lanes 0-3 and 4-7 have their own 16-element scales, a lane permute). Two to
// four accumulators take turns so consecutive FMAs do not wait on each other; the mins and offsets go to
// one more vector through x's block sums, subtracted before the single horizontal sum. Codes: Q4 nibbles by
// and/shift, the Q5 5th bit shifted into bit 4 from qh, the Q6 2 high bits shifted into bits 4-5; 16-bit
// shifts never carry a bit into the byte that is kept. Weights are read once, in address order.
// Measured on the Zen 4 development machine (2.5 GHz, one core, w in L2): Q8_0 ~30, Q4_K ~21, Q4_0 ~17,
// Q5_K ~23, Q6_K ~30 GB/s of weights, so two cores outrun the ~30 GB/s DRAM stream they share.
// Dequantize (prefill): 8 codes -> int32 -> f32, then the reference's f32 operations in its order, so the
// values equal dequantize_row's bit for bit. Where the compiler fuses d1 * q - m1 into an FMA nothing
// changes: d1 * q is exact in f32 (an f16 times a 6-bit scale times a 5-bit code: at most 22 bits).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "backend/cpu/kernels/quant_matmul_x8_x86.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

inline float f16(uint16_t bits) {
  return _cvtsh_ss(bits);
}

// Lane l: sum of u[4l + t] * s[4l + t], t < 4 (u unsigned, s signed; no pair of products above 32767).
template <bool kVnni>
inline __m256i dot4(__m256i u, __m256i s) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  }
}

inline __m256 fma_block(__m256i dot, __m256 scale, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
}

inline float hsum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_hadd_ps(h, h);
  return _mm_cvtss_f32(_mm_hadd_ps(q, q));
}

// ---- row dot products ----

// The f16 scale d of 8 consecutive blocks (the first at `first`, `stride` bytes apart) as f32.
inline __m256 scales8(const uint8_t* first, size_t stride) {
  uint16_t h[8];
  for (int j = 0; j < 8; ++j)
    std::memcpy(&h[j], first + j * stride, 2);
  return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(h[0]), static_cast<short>(h[1]),
                                        static_cast<short>(h[2]), static_cast<short>(h[3]),
                                        static_cast<short>(h[4]), static_cast<short>(h[5]),
                                        static_cast<short>(h[6]), static_cast<short>(h[7])));
}

// Q8_0: signed weights, so |w| (u8) times x carrying w's sign; no offset.
template <bool kVnni>
inline __m256i dot_q8_0_block(const BlockQ80& b, const int8_t* xq) {
  const __m256i w = load256(b.qs);
  return dot4<kVnni>(_mm256_abs_epi8(w), _mm256_sign_epi8(load256(xq), w));
}

// Q4_0: the unsigned nibbles (element order: low nibbles, then high) times x; the offset 8 is subtracted
// through x's block sums.
template <bool kVnni>
inline __m256i dot_q4_0_block(const BlockQ40& b, const int8_t* xq) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15));
  return dot4<kVnni>(nibbles, load256(xq));
}

// Q8_0 and Q4_0 rows, 8 blocks at a time: the 8 f16 scales are converted together and times x's scales
// stored to the stack, so each block's FMA takes its scale as a broadcast load; block j of a chunk
// accumulates into acc[j % 2]. The last n_blocks % 8 blocks go one by one. Q4_0's offset:
// -8 * sum_b d_b * sum32_b.
template <bool kVnni, bool kQ4>
float dot_32_blocks(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  using Block = std::conditional_t<kQ4, BlockQ40, BlockQ80>;
  const auto* b = static_cast<const Block*>(w);
  auto dot = [&](int64_t i) {
    if constexpr (kQ4) {
      return dot_q4_0_block<kVnni>(b[i], x.q + 32 * i);
    } else {
      return dot_q8_0_block<kVnni>(b[i], x.q + 32 * i);
    }
  };
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 acc_off = _mm256_setzero_ps();
  alignas(32) float scale[8];
  int64_t i = 0;
  for (; i + 8 <= n_blocks; i += 8) {
    const __m256 d = scales8(reinterpret_cast<const uint8_t*>(&b[i].d), sizeof(Block));
    _mm256_store_ps(scale, _mm256_mul_ps(d, _mm256_loadu_ps(x.d + i)));
    if constexpr (kQ4) acc_off = _mm256_fmadd_ps(d, _mm256_loadu_ps(x.sum32 + i), acc_off);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      acc[j % 2] = fma_block(dot(i + j), _mm256_broadcast_ss(scale + j), acc[j % 2]);
  }
  float off = 0.0f;
  for (; i < n_blocks; ++i) {
    const float d = f16(b[i].d);
    acc[0] = fma_block(dot(i), _mm256_set1_ps(d * x.d[i]), acc[0]);
    if constexpr (kQ4) off += d * x.sum32[i];
  }
  __m256 sum = _mm256_add_ps(acc[0], acc[1]);
  if constexpr (kQ4) sum = _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), acc_off, sum);
  return kQ4 ? hsum(sum) - 8.0f * off : hsum(sum);
}

template <bool kVnni>
float dot_q8_0(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  return dot_32_blocks<kVnni, false>(x, w, n_blocks);
}

template <bool kVnni>
float dot_q4_0(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  return dot_32_blocks<kVnni, true>(x, w, n_blocks);
}

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block as f32, unpacked in registers from the 3 little-endian
// words u0, u1, u2 of scales[12]: sc[0..3] = u0 & 0x3f.., mn[0..3] = u1 & 0x3f..; sc[4..7] = (u2 & 0x0f..) |
// ((u0 >> 2) & 0x30..), mn[4..7] = ((u2 >> 4) & 0x0f..) | ((u1 >> 2) & 0x30..) (bits 6-7 of byte j become
// bits 4-5 of byte j + 4). Reads 16 bytes: the 4 after scales[] are the block's own qh/qs.
inline void k4_scales_mins(const uint8_t* scales, __m256* sc, __m256* mn) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales));
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi32(0x3f3f3f3f));  // lanes: sc_lo, mn_lo
  __m128i t = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 2, 2));        // lanes: u2, u2, u0, u1
  t = _mm_and_si128(_mm_srlv_epi32(t, _mm_setr_epi32(0, 4, 2, 2)),
                    _mm_setr_epi32(0x0f0f0f0f, 0x0f0f0f0f, 0x30303030, 0x30303030));
  const __m128i hi = _mm_or_si128(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(3, 2, 3, 2)));  // lanes: sc_hi, mn_hi
  const __m128i bytes = _mm_unpacklo_epi32(lo, hi);                                   // sc[0..7], mn[0..7]
  *sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
  *mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
}

// One Q4_K (kQ5 false) or Q5_K super-block; i is its index in the row (x sub-blocks 8i..8i+7). The 8
// sub-block scales d * sc * dx go through the stack so that each FMA takes its scale as a broadcast load
// (a load port) rather than a lane permute (a vector ALU); sub-block g accumulates into acc[g % 4].
template <bool kVnni, bool kQ5, typename Block>
inline void block_k4(const QuantizedXRow& x, int64_t i, const Block& b, __m256* acc, __m256& acc_min) {
  __m256 sc, mn;
  k4_scales_mins(b.scales, &sc, &mn);
  uint32_t d_dmin;
  std::memcpy(&d_dmin, &b.d, 4);  // d, dmin: adjacent f16
  const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_dmin)));
  alignas(32) float scale[8];
  _mm256_store_ps(scale,
                  _mm256_mul_ps(_mm256_mul_ps(_mm256_broadcastss_ps(dm), sc), _mm256_loadu_ps(x.d + 8 * i)));
  acc_min = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dm)), mn),
                            _mm256_loadu_ps(x.sum32 + 8 * i), acc_min);
  const __m256i low4 = _mm256_set1_epi8(15);
  [[maybe_unused]] const __m256i bit4 = _mm256_set1_epi8(16);
  [[maybe_unused]] __m256i high;
  if constexpr (kQ5) high = load256(b.qh);
  const int8_t* xq = x.q + 256 * i;
#pragma GCC unroll 4
  for (int p = 0; p < 4; ++p) {
    __m256i q = load256(b.qs + 32 * p);
    asm("" : "+x"(q));  // one load of q, not one per use
    __m256i lo = _mm256_and_si256(q, low4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    if constexpr (kQ5) {  // bits 2p and 2p + 1 of qh, moved to bit 4 (high shifts right by 2 per p)
      lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(high, 4), bit4));
      hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(high, 3), bit4));
      high = _mm256_srli_epi16(high, 2);
    }
    const int a = (2 * p) % 4;
    acc[a] = fma_block(dot4<kVnni>(lo, load256(xq + 64 * p)), _mm256_broadcast_ss(scale + 2 * p), acc[a]);
    acc[a + 1] = fma_block(dot4<kVnni>(hi, load256(xq + 64 * p + 32)), _mm256_broadcast_ss(scale + 2 * p + 1),
                           acc[a + 1]);
  }
}

template <bool kVnni, bool kQ5, typename Block>
float dot_k4(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const Block*>(w);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_blocks; ++i)
    block_k4<kVnni, kQ5>(x, i, b[i], acc, acc_min);
  return hsum(
      _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])), acc_min));
}

template <bool kVnni>
float dot_q4_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  return dot_k4<kVnni, false, BlockQ4K>(x, w, n_blocks);
}

template <bool kVnni>
float dot_q5_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  return dot_k4<kVnni, true, BlockQ5K>(x, w, n_blocks);
}

// Lanes 0-3 get lane 2j of v, lanes 4-7 lane 2j + 1: the scales of the two 16-element halves of a dot4.
inline __m256 lane_pair(__m256 v, int j) {
  return _mm256_permutevar8x32_ps(
      v, _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1));
}

template <bool kVnni>
float dot_q6_k(const QuantizedXRow& x, const void* w, int64_t n_blocks) {
  const auto* b = static_cast<const BlockQ6K*>(w);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc_off = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(15);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const __m256 d = _mm256_set1_ps(f16(b[i].d));
    const __m128i sc_bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales));
    const __m256 sc_lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc_bytes));
    const __m256 sc_hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc_bytes, 8)));
    // Offset 32: 32 d sum_j sc_j * (x's sum over 16-element group j).
    const __m256 off = _mm256_fmadd_ps(sc_hi, _mm256_loadu_ps(x.sum16 + 16 * i + 8),
                                       _mm256_mul_ps(sc_lo, _mm256_loadu_ps(x.sum16 + 16 * i)));
    acc_off = _mm256_fmadd_ps(off, _mm256_mul_ps(d, _mm256_set1_ps(32.0f)), acc_off);
    const __m256 dx = _mm256_loadu_ps(x.d + 8 * i);
    for (int h = 0; h < 2; ++h) {
      // Scale of 16-element group j of this half: d * sc[8h + j] * dx[(8h + j) / 2].
      const __m256 dx16 = _mm256_permutevar8x32_ps(
          dx,
          _mm256_setr_epi32(4 * h, 4 * h, 4 * h + 1, 4 * h + 1, 4 * h + 2, 4 * h + 2, 4 * h + 3, 4 * h + 3));
      const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(d, h == 0 ? sc_lo : sc_hi), dx16);
      const __m256i a = load256(b[i].ql + 64 * h);
      const __m256i c = load256(b[i].ql + 64 * h + 32);
      const __m256i hb = load256(b[i].qh + 32 * h);
      const __m256i q0 =
          _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), bits45));
      const __m256i q1 =
          _mm256_or_si256(_mm256_and_si256(c, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), bits45));
      const __m256i q2 =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low4), _mm256_and_si256(hb, bits45));
      const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low4),
                                         _mm256_and_si256(_mm256_srli_epi16(hb, 2), bits45));
      const int8_t* xq = x.q + 256 * i + 128 * h;
      acc0 = fma_block(dot4<kVnni>(q0, load256(xq)), lane_pair(scale, 0), acc0);
      acc1 = fma_block(dot4<kVnni>(q1, load256(xq + 32)), lane_pair(scale, 1), acc1);
      acc0 = fma_block(dot4<kVnni>(q2, load256(xq + 64)), lane_pair(scale, 2), acc0);
      acc1 = fma_block(dot4<kVnni>(q3, load256(xq + 96)), lane_pair(scale, 3), acc1);
    }
  }
  return hsum(_mm256_sub_ps(_mm256_add_ps(acc0, acc1), acc_off));
}

// ---- dequantization (prefill and embedding) ----

inline void store8(float* y, __m256i ints, __m256 scale) {
  _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(ints), scale));
}

inline __m128i load64(const void* p) {
  return _mm_loadl_epi64(static_cast<const __m128i*>(p));
}

void dequantize_q8_0(const void* src, float* y, int64_t count) {
  const auto* b = static_cast<const BlockQ80*>(src);
  for (int64_t i = 0; i < count / 32; ++i, y += 32) {
    const __m256 d = _mm256_set1_ps(f16(b[i].d));
    for (int c = 0; c < 4; ++c)
      store8(y + 8 * c, _mm256_cvtepi8_epi32(load64(b[i].qs + 8 * c)), d);
  }
}

void dequantize_q4_0(const void* src, float* y, int64_t count) {
  const auto* b = static_cast<const BlockQ40*>(src);
  const __m256i eight = _mm256_set1_epi32(8), low4 = _mm256_set1_epi32(15);
  for (int64_t i = 0; i < count / 32; ++i, y += 32) {
    const __m256 d = _mm256_set1_ps(f16(b[i].d));
    for (int c = 0; c < 2; ++c) {
      const __m256i q = _mm256_cvtepu8_epi32(load64(b[i].qs + 8 * c));
      store8(y + 8 * c, _mm256_sub_epi32(_mm256_and_si256(q, low4), eight), d);
      store8(y + 16 + 8 * c, _mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight), d);
    }
  }
}

// y = d * sc * q - dmin * mn per sub-block, as the reference: (d * sc) * q, then minus (dmin * mn).
template <bool kQ5>
void dequantize_k4(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales, const uint8_t* qs,
                   const uint8_t* qh, float* y) {
  const float d = f16(d_bits), dmin = f16(dmin_bits);
  const __m256i low4 = _mm256_set1_epi32(15);
  [[maybe_unused]] const __m256i bit4 = _mm256_set1_epi32(16);
  for (int p = 0; p < 4; ++p, y += 64) {
    uint8_t sc, mn;
    k_quant_scale_min(scales, 2 * p, &sc, &mn);
    const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(dmin * mn);
    k_quant_scale_min(scales, 2 * p + 1, &sc, &mn);
    const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(dmin * mn);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_cvtepu8_epi32(load64(qs + 32 * p + 8 * c));
      __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_srli_epi32(q, 4);
      if constexpr (kQ5) {  // bit 2p of qh for lo, bit 2p + 1 for hi, moved to bit 4
        const __m256i h =
            _mm256_srl_epi32(_mm256_cvtepu8_epi32(load64(qh + 8 * c)), _mm_cvtsi32_si128(2 * p));
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi32(h, 4), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi32(h, 3), bit4));
      }
      _mm256_storeu_ps(y + 8 * c, _mm256_sub_ps(_mm256_mul_ps(d1, _mm256_cvtepi32_ps(lo)), m1));
      _mm256_storeu_ps(y + 32 + 8 * c, _mm256_sub_ps(_mm256_mul_ps(d2, _mm256_cvtepi32_ps(hi)), m2));
    }
  }
}

void dequantize_q4_k(const void* src, float* y, int64_t count) {
  const auto* b = static_cast<const BlockQ4K*>(src);
  for (int64_t i = 0; i < count / 256; ++i)
    dequantize_k4<false>(b[i].d, b[i].dmin, b[i].scales, b[i].qs, nullptr, y + 256 * i);
}

void dequantize_q5_k(const void* src, float* y, int64_t count) {
  const auto* b = static_cast<const BlockQ5K*>(src);
  for (int64_t i = 0; i < count / 256; ++i)
    dequantize_k4<true>(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, y + 256 * i);
}

// y = (d * sc) * (q - 32), as the reference.
void dequantize_q6_k(const void* src, float* y, int64_t count) {
  const auto* b = static_cast<const BlockQ6K*>(src);
  const __m256i low4 = _mm256_set1_epi32(15), three = _mm256_set1_epi32(3), offset = _mm256_set1_epi32(32);
  for (int64_t i = 0; i < count / 256; ++i) {
    const float d = f16(b[i].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int c = 0; c < 4; ++c) {  // elements 8c.. of each quarter; group of 16 = c / 2
        const __m256i a = _mm256_cvtepu8_epi32(load64(ql + 8 * c));
        const __m256i e = _mm256_cvtepu8_epi32(load64(ql + 32 + 8 * c));
        const __m256i hb = _mm256_cvtepu8_epi32(load64(qh + 8 * c));
        const __m256i q0 =
            _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_slli_epi32(_mm256_and_si256(hb, three), 4));
        const __m256i q1 =
            _mm256_or_si256(_mm256_and_si256(e, low4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hb, 2), three), 4));
        const __m256i q2 = _mm256_or_si256(
            _mm256_srli_epi32(a, 4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hb, 4), three), 4));
        const __m256i q3 =
            _mm256_or_si256(_mm256_srli_epi32(e, 4), _mm256_slli_epi32(_mm256_srli_epi32(hb, 6), 4));
        const int is = c / 2;
        store8(y + 8 * c, _mm256_sub_epi32(q0, offset), _mm256_set1_ps(d * sc[is]));
        store8(y + 32 + 8 * c, _mm256_sub_epi32(q1, offset), _mm256_set1_ps(d * sc[is + 2]));
        store8(y + 64 + 8 * c, _mm256_sub_epi32(q2, offset), _mm256_set1_ps(d * sc[is + 4]));
        store8(y + 96 + 8 * c, _mm256_sub_epi32(q3, offset), _mm256_set1_ps(d * sc[is + 6]));
      }
    }
  }
}

// ---- x quantization (quant_matmul_kernels.h): the same values as the scalar quantize_x_row ----

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1))));
}

// Per 32-block: amax, scale = amax / 127, q = round-to-nearest-even(x * (127 / amax)) (vcvtps2dq under the
// default rounding mode, as the scalar path's magic-number rounding), clamped to [-127, 127].
inline void quantize_x_row_x86(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 max_finite = _mm256_set1_ps(std::numeric_limits<float>::max());
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int64_t b = 0; b < k / 32; ++b, x += 32, q += 32) {
    __m256 v[4], a[4];
    int not_finite = 0;
    for (int c = 0; c < 4; ++c) {
      v[c] = _mm256_loadu_ps(x + 8 * c);
      a[c] = _mm256_and_ps(v[c], abs_mask);
      not_finite |= _mm256_movemask_ps(_mm256_cmp_ps(a[c], max_finite, _CMP_NLE_UQ));  // NaN or inf
    }
    if (not_finite != 0) {
      std::memset(q, 0, 32);
      d[b] = sum32[b] = sum16[2 * b] = sum16[2 * b + 1] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const float amax = hmax(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
    const __m256 inverse = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    __m256i i[4];
    for (int c = 0; c < 4; ++c)
      i[c] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[c], inverse)), lo), hi);
    // packs interleave the 128-bit halves: bytes come out as 0-3, 8-11, 16-19, 24-27, 4-7, ... (in groups of
    // 4); the dword permute puts them back in order.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const float scale = amax / 127.0f;
    const int32_t s0 = hsum_epi32(_mm256_add_epi32(i[0], i[1])),
                  s1 = hsum_epi32(_mm256_add_epi32(i[2], i[3]));
    d[b] = scale;
    sum16[2 * b] = scale * static_cast<float>(s0);
    sum16[2 * b + 1] = scale * static_cast<float>(s1);
    sum32[b] = scale * static_cast<float>(s0 + s1);
  }
}

// A block of w rows against m x rows (quant_matmul_kernels.h), the row dot inlined.
template <float (*kRowDot)(const QuantizedXRow&, const void*, int64_t)>
void rows_dot(const QuantizedXRow* x, int64_t m, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
              int64_t n_blocks, const float* bias, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n_rows; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      const float dot = kRowDot(x[i], w + j * row_bytes, n_blocks);
      out[i * ldo + j] = bias != nullptr ? dot + bias[j] : dot;
    }
  }
}

// The kernels of one type, for the instruction set this file is compiled for.
template <bool kVnni>
QuantKernels x86_kernels(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
    case DType::kF8E4M3:
      return {};
    case DType::kQ8_0:
      return {rows_dot<dot_q8_0<kVnni>>, dequantize_q8_0};
    case DType::kQ4_0:
      return {rows_dot<dot_q4_0<kVnni>>, dequantize_q4_0};
    case DType::kQ4_K:
      return {rows_dot<dot_q4_k<kVnni>>, dequantize_q4_k};
    case DType::kQ5_K:
      return {rows_dot<dot_q5_k<kVnni>>, dequantize_q5_k};
    case DType::kQ6_K:
      return {rows_dot<dot_q6_k<kVnni>>, dequantize_q6_k};
    case DType::kQ4_Kx8:  // dequantize: after quant_matmul.cpp has unpacked the groups to Q4_K
      return {rows_dot_q4_k_x8<kVnni>, dequantize_q4_k};
  }
  return {};
}

}  // namespace
}  // namespace autoglm

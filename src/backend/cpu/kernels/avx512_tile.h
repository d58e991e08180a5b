// The zmm register tiles' set-up and end shared by the AVX-512 matmul kernels (matmul_avx512.cpp,
// matmul_avx512_bf16.cpp): zeroed accumulators, and their horizontal sums by one fixed tree per vector, so a
// tile of 1 to 4 outputs gets the same bits for an output whatever the others are. Include only from files
// compiled for AVX-512 with function-level targets.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define AUTOGLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace autoglm::avx512 {

AUTOGLM_AVX512 inline __m128 fold_to_128(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 s = _mm256_add_ps(lo, hi);
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// [sum(a), sum(b), sum(c), sum(d)]; each lane's tree depends only on its own vector, so a tile narrower
// than 4 passes zeros for the missing ones and gets bit-identical sums for the others.
AUTOGLM_AVX512 inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  return _mm_hadd_ps(_mm_hadd_ps(fold_to_128(a), fold_to_128(b)),
                     _mm_hadd_ps(fold_to_128(c), fold_to_128(d)));
}

// sum(a) by the very tree of one lane of reduce4: ((a0 + a1) + (a2 + a3)) of the folded quarter.
AUTOGLM_AVX512 inline float reduce1(__m512 a) {
  const __m128 v = fold_to_128(a);
  const __m128 h = _mm_hadd_ps(v, v);
  return _mm_cvtss_f32(_mm_hadd_ps(h, h));
}

template <int MR, int TN>
AUTOGLM_AVX512 inline void clear_tile(__m512 (&acc)[MR][TN]) {
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < TN; ++j) {
      acc[i][j] = _mm512_setzero_ps();
    }
  }
}

// out[i * ldo + j] = sum(acc[i][j]) (+ bias[j]) for i < MR, j < NR (acc[i][j] for j >= NR unused).
template <int MR, int NR, int TN>
AUTOGLM_AVX512 inline void store_tile(const __m512 (&acc)[MR][TN], const float* bias, float* out,
                                      int64_t ldo) {
  if constexpr (NR == 1) {
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const float sum = reduce1(acc[i][0]);
      out[i * ldo] = bias != nullptr ? sum + bias[0] : sum;
    }
  } else {
    static_assert(TN == 4, "four outputs per reduce4");
    const auto out_mask = static_cast<__mmask8>((1u << NR) - 1);
    const __m128 bias_v = bias != nullptr ? _mm_maskz_loadu_ps(out_mask, bias) : _mm_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      __m128 sums = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
      if (bias != nullptr) sums = _mm_add_ps(sums, bias_v);
      if constexpr (NR == TN) {
        _mm_storeu_ps(out + i * ldo, sums);
      } else {
        _mm_mask_storeu_ps(out + i * ldo, out_mask, sums);
      }
    }
  }
}

}  // namespace autoglm::avx512

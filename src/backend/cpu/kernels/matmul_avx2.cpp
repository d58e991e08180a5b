// AVX2 register tiles of the CPU matmul (the driver, layout and floors are in matmul.cpp).
//
// Prefill tile: 2 x rows by 4 w rows, one ymm accumulator per output: 8 accumulators + 4 w vectors + 1 x
// vector fit the 16 registers without spills (4 x 4 would not). Each 8-lane step loads 4 w and 2 x vectors
// for 8 FMAs. Decode tile: up to 2 x rows by 1 w row, so w streams from memory in address order. The k tail
// is one step on zero-padded data (masked loads for f32, a zeroed 8-element copy for 16-bit weights), so
// every output still is one accumulator chain. f16 goes through F16C, bf16 is a 16-bit shift; both exact.
// Compiled with function-level target attributes only: matmul.cpp calls in here after checking the CPU.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cpu/kernels/matmul_kernels.h"

#define AUTOGLM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace autoglm {
namespace {

constexpr int kLanes = 8;
constexpr int kTileM = 2;
constexpr int kTileN = 4;

// Lanes [8 - r, 16) of this table, read from index 8 - r, select the first r lanes of a maskload.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

enum class WeightKind { kF32, kF16, kBf16 };
template <WeightKind K>
using WeightT = std::conditional_t<K == WeightKind::kF32, float, uint16_t>;

template <WeightKind K>
AUTOGLM_AVX2 inline __m256 load_w(const WeightT<K>* p) {
  if constexpr (K == WeightKind::kF32) {
    return _mm256_loadu_ps(p);
  } else {
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (K == WeightKind::kF16) {
      return _mm256_cvtph_ps(bits);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
    }
  }
}

// The first `rest` (< 8) elements at p, zeros after; reads nothing past them.
template <WeightKind K>
AUTOGLM_AVX2 inline __m256 load_w_tail(const WeightT<K>* p, int64_t rest, __m256i mask) {
  if constexpr (K == WeightKind::kF32) {
    return _mm256_maskload_ps(p, mask);
  } else {
    alignas(16) uint16_t padded[kLanes] = {};
    std::memcpy(padded, p, static_cast<size_t>(rest) * sizeof(uint16_t));
    return load_w<K>(padded);
  }
}

AUTOGLM_AVX2 inline __m128 fold_to_128(__m256 v) {
  return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

// [sum(a), sum(b), sum(c), sum(d)]; each lane's tree depends only on its own vector.
AUTOGLM_AVX2 inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  return _mm_hadd_ps(_mm_hadd_ps(fold_to_128(a), fold_to_128(b)),
                     _mm_hadd_ps(fold_to_128(c), fold_to_128(d)));
}

// sum(a) by the very tree of one lane of reduce4: ((a0 + a1) + (a2 + a3)) of the folded half.
AUTOGLM_AVX2 inline float reduce1(__m256 a) {
  const __m128 v = fold_to_128(a);
  const __m128 h = _mm_hadd_ps(v, v);
  return _mm_cvtss_f32(_mm_hadd_ps(h, h));
}

// out[i * ldo + j] = dot(x_i, w_j) (+ bias[j]) for i < MR, j < NR; rows of x and w are k apart.
template <WeightKind K, int MR, int NR>
AUTOGLM_AVX2 void tile(const float* x, const WeightT<K>* w, const float* bias, float* out, int64_t k,
                       int64_t ldo) {
  __m256 acc[MR][kTileN];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < kTileN; ++j) {
      acc[i][j] = _mm256_setzero_ps();
    }
  }
  int64_t p = 0;
  for (; p + kLanes <= k; p += kLanes) {
    __m256 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load_w<K>(w + j * k + p);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_loadu_ps(x + i * k + p);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
  if (p < k) {
    const int64_t rest = k - p;
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + kLanes - rest));
    __m256 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load_w_tail<K>(w + j * k + p, rest, mask);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_maskload_ps(x + i * k + p, mask);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
    if constexpr (NR == 1) {
      const float sum = reduce1(acc[i][0]);
      out[i * ldo] = bias != nullptr ? sum + bias[0] : sum;
    } else if constexpr (NR == kTileN) {
      const __m128 sums = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
      _mm_storeu_ps(out + i * ldo, bias != nullptr ? _mm_add_ps(sums, _mm_loadu_ps(bias)) : sums);
    } else {
      // The same single f32 add as the vector path above, so narrow tiles round identically.
      alignas(16) float lanes[4];
      _mm_store_ps(lanes, reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
      for (int j = 0; j < NR; ++j) {
        out[i * ldo + j] = bias != nullptr ? lanes[j] + bias[j] : lanes[j];
      }
    }
  }
}

// MR x rows against all n w rows: NR at a time, then (for NR = 4) the 1-3 left over.
template <WeightKind K, int MR, int NR>
AUTOGLM_AVX2 void row_tiles(const float* x, const WeightT<K>* w, const float* bias, float* out, int64_t n,
                            int64_t k, int64_t ldo) {
  int64_t j = 0;
  for (; j + NR <= n; j += NR) {
    tile<K, MR, NR>(x, w + j * k, bias != nullptr ? bias + j : nullptr, out + j, k, ldo);
  }
  if constexpr (NR > 1) {
    const float* bias_j = bias != nullptr ? bias + j : nullptr;
    switch (n - j) {
      case 1:
        tile<K, MR, 1>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      case 2:
        tile<K, MR, 2>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      case 3:
        tile<K, MR, 3>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      default:
        break;
    }
  }
}

// NR = 4: prefill tiles over a cache-resident block; NR = 1: w rows streamed in address order.
template <WeightKind K, int NR>
AUTOGLM_AVX2 void block(const float* x, const WeightT<K>* w, const float* bias, float* out, int64_t m,
                        int64_t n, int64_t k, int64_t ldo) {
  int64_t i = 0;
  for (; i + kTileM <= m; i += kTileM) {
    row_tiles<K, kTileM, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
  }
  if (i < m) row_tiles<K, 1, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
}

template <WeightKind K>
AUTOGLM_AVX2 void convert(const uint16_t* src, float* dst, int64_t count) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    _mm256_storeu_ps(dst + i, load_w<K>(src + i));
  }
  if (i < count) {
    const int64_t rest = count - i;
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + kLanes - rest));
    _mm256_maskstore_ps(dst + i, mask, load_w_tail<K>(src + i, rest, mask));
  }
}

}  // namespace

const MatmulKernels& matmul_kernels_avx2() {
  using enum WeightKind;
  static const MatmulKernels kernels{
      .stream_f32 = block<kF32, 1>,
      .stream_f16 = block<kF16, 1>,
      .stream_bf16 = block<kBf16, 1>,
      .block_f32 = block<kF32, kTileN>,
      .f16_to_f32 = convert<kF16>,
      .bf16_to_f32 = convert<kBf16>,
      .tile_m = kTileM,
  };
  return kernels;
}

}  // namespace autoglm

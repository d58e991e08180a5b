// AVX-512 register tiles of the CPU matmul (the driver, layout and floors are in matmul.cpp).
//
// Prefill tile: 4 x rows by 4 w rows, one zmm accumulator per output (16 of the 32 registers), so every
// 16-lane step loads 4 w vectors and 4 x vectors for 16 FMAs: each w load serves 4 x rows, each x load 4 w
// rows. Decode tile: up to 4 x rows by 1 w row, so w streams from memory in address order; one chain of
// 16-lane FMAs per output retires 4 elements per cycle, several times what DRAM delivers to a core. The k
// tail is one masked step (masked lanes load zeros), so any k works without a scalar epilogue. f16 goes
// through F16C (vcvtph2ps), bf16 is a 16-bit left shift of the zero-extended bits; both are exact. Compiled
// with function-level target attributes only: matmul.cpp calls in here after checking the CPU. GCC 12 flags
// the deliberate self-initialization inside _mm512_undefined_*() when it inlines avx512fintrin.h (GCC bug
// 105593); a false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "backend/cpu/kernels/avx512_tile.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "backend/cpu/kernels/matmul_tiling.h"

namespace autoglm {
namespace {

constexpr int kLanes = 16;
constexpr int kTileM = 4;
constexpr int kTileN = 4;

enum class WeightKind { kF32, kF16, kBf16 };
template <WeightKind K>
using WeightT = std::conditional_t<K == WeightKind::kF32, float, uint16_t>;

template <WeightKind K>
AUTOGLM_AVX512 inline __m512 widen(__m256i bits) {
  if constexpr (K == WeightKind::kF16) {
    return _mm512_cvtph_ps(bits);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  }
}

template <WeightKind K>
AUTOGLM_AVX512 inline __m512 load_w(const WeightT<K>* p) {
  if constexpr (K == WeightKind::kF32) {
    return _mm512_loadu_ps(p);
  } else {
    return widen<K>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
}

// The first lanes selected by `mask`, zeros elsewhere; never touches memory past the masked lanes.
template <WeightKind K>
AUTOGLM_AVX512 inline __m512 load_w_masked(const WeightT<K>* p, __mmask16 mask) {
  if constexpr (K == WeightKind::kF32) {
    return _mm512_maskz_loadu_ps(mask, p);
  } else {
    return widen<K>(_mm256_maskz_loadu_epi16(mask, p));
  }
}

using avx512::reduce1;
using avx512::reduce4;

// out[i * ldo + j] = dot(x_i, w_j) (+ bias[j]) for i < MR, j < NR; rows of x and w are k apart.
template <WeightKind K, int MR, int NR>
AUTOGLM_AVX512 void tile(const float* x, const WeightT<K>* w, const float* bias, float* out, int64_t k,
                         int64_t ldo) {
  __m512 acc[MR][kTileN];
  avx512::clear_tile(acc);
  int64_t p = 0;
  for (; p + kLanes <= k; p += kLanes) {
    __m512 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load_w<K>(w + j * k + p);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * k + p);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
  if (p < k) {
    const auto mask = static_cast<__mmask16>((1u << (k - p)) - 1);
    __m512 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load_w_masked<K>(w + j * k + p, mask);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * k + p);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
  avx512::store_tile<MR, NR>(acc, bias, out, ldo);
}

template <WeightKind K>
struct Tiles {
  static constexpr int kTileM = autoglm::kTileM;
  template <int MR, int NR>
  AUTOGLM_AVX512 static void run(const float* x, const WeightT<K>* w, const float* bias, float* out,
                                 int64_t k, int64_t ldo) {
    tile<K, MR, NR>(x, w, bias, out, k, ldo);
  }
};

// NR = 4: prefill tiles over a cache-resident block; NR = 1: w rows streamed in address order.
template <WeightKind K, int NR>
constexpr MatmulBlockFn<WeightT<K>> block = tile_block<Tiles<K>, NR, float, WeightT<K>>;

template <WeightKind K>
AUTOGLM_AVX512 void convert(const uint16_t* src, float* dst, int64_t count) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    _mm512_storeu_ps(dst + i, load_w<K>(src + i));
  }
  if (i < count) {
    const auto mask = static_cast<__mmask16>((1u << (count - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, mask, load_w_masked<K>(src + i, mask));
  }
}

}  // namespace

const MatmulKernels& matmul_kernels_avx512() {
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

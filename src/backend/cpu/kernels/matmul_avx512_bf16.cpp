// AVX512_BF16 register tiles of the CPU matmul over bf16 weights (the driver is matmul.cpp).
//
// Why: the AVX-512 path widens bf16 weights to f32 and runs f32 FMAs, 16 multiply-adds per instruction.
// VDPBF16PS takes 32 bf16 pairs per instruction into 16 f32 lanes (each lane adds two products), twice the
// multiply-adds at the same instruction rate (Zen 4: both ~1.8 G zmm instructions/s per core on the
// development machine), on x rounded to bf16 (round to nearest even, as the GPU path and the 16-bit matmul
// inputs of graph/matmul_input_pass.h round it). The products of two bf16 values are exact in f32; the
// instruction treats subnormal inputs as zero and flushes subnormal results (it ignores MXCSR).
// Tiles as matmul_avx512.cpp's: prefill 4 x rows by 4 w rows in 16 zmm accumulators (each 32-pair step
// loads 4 w and 4 x vectors for 16 instructions), decode up to 4 x rows by 1 w row with w streamed in
// address order; the k tail is one masked step. Every output is one accumulator chain over k in steps of 32
// and the same reduction tree in both, so rows do not depend on the batch (matmul_kernels.h). Here w needs no
// widening: a block of bf16 rows is already contiguous and half the bytes of the f32 copy.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/kernels/avx512_tile.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "backend/cpu/kernels/matmul_tiling.h"
#include "core/half.h"

#define AUTOGLM_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

namespace autoglm {
namespace {

using avx512::reduce1;
using avx512::reduce4;

constexpr int kPairs = 32;  // bf16 elements per VDPBF16PS
constexpr int kTileM = 4;
constexpr int kTileN = 4;

AUTOGLM_AVX512_BF16 inline __m512bh load(const uint16_t* p) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
}

AUTOGLM_AVX512_BF16 inline __m512bh load_masked(const uint16_t* p, __mmask32 mask) {
  return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, p));
}

// out[i * ldo + j] = dot(x_i, w_j) (+ bias[j]) for i < MR, j < NR; rows of x and w are k apart.
template <int MR, int NR>
AUTOGLM_AVX512_BF16 void tile(const uint16_t* x, const uint16_t* w, const float* bias, float* out, int64_t k,
                              int64_t ldo) {
  __m512 acc[MR][kTileN];
  avx512::clear_tile(acc);
  int64_t p = 0;
  for (; p + kPairs <= k; p += kPairs) {
    __m512bh wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load(w + j * k + p);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m512bh xv = load(x + i * k + p);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
      }
    }
  }
  if (p < k) {
    const auto mask = static_cast<__mmask32>((uint64_t{1} << (k - p)) - 1);
    __m512bh wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      wv[j] = load_masked(w + j * k + p, mask);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const __m512bh xv = load_masked(x + i * k + p, mask);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
      }
    }
  }
  avx512::store_tile<MR, NR>(acc, bias, out, ldo);
}

struct Tiles {
  static constexpr int kTileM = autoglm::kTileM;
  template <int MR, int NR>
  AUTOGLM_AVX512_BF16 static void run(const uint16_t* x, const uint16_t* w, const float* bias, float* out,
                                      int64_t k, int64_t ldo) {
    tile<MR, NR>(x, w, bias, out, k, ldo);
  }
};

// NR = 4: prefill tiles over a cache-resident block; NR = 1: w rows streamed in address order.
template <int NR>
constexpr MatmulBf16DotFn block = tile_block<Tiles, NR, uint16_t, uint16_t>;

// f32 -> bf16 bits, round to nearest even, NaN kept quiet: core/half.h's f32_to_bf16 on 16 lanes (integer
// operations, so subnormals round as they do there).
AUTOGLM_AVX512_BF16 void round_to_bf16(const float* src, uint16_t* dst, int64_t count) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512i bits = _mm512_loadu_si512(src + i);
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(bits, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one))),
        16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf);
    const __m512i result = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(bits, 16), quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(result));
  }
  for (; i < count; ++i)
    dst[i] = f32_to_bf16(src[i]);
}

}  // namespace

const MatmulKernels& matmul_kernels_avx512_bf16() {
  static const MatmulKernels kernels = [] {
    MatmulKernels k = matmul_kernels_avx512();
    k.stream_bf16_dot = block<1>;
    k.block_bf16_dot = block<kTileN>;
    k.round_to_bf16 = round_to_bf16;
    return k;
  }();
  return kernels;
}

}  // namespace autoglm

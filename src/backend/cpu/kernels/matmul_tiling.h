// The loops of the CPU matmul's register tiles, shared by the instruction-set files: Tiles::run<MR, NR>
// computes MR x rows against NR w rows (NR = Tiles::kTileN, or 1 for the streamed decode path, or the 1 to
// kTileN - 1 left at the end of w), and these walk a block of x rows and w rows with it.
#pragma once

#include <cstdint>

namespace autoglm {

// MR x rows against all n w rows: NR at a time, then (for NR > 1) the ones left over.
template <typename Tiles, int MR, int NR, typename X, typename W>
inline void row_tiles(const X* x, const W* w, const float* bias, float* out, int64_t n, int64_t k,
                      int64_t ldo) {
  int64_t j = 0;
  for (; j + NR <= n; j += NR) {
    Tiles::template run<MR, NR>(x, w + j * k, bias != nullptr ? bias + j : nullptr, out + j, k, ldo);
  }
  if constexpr (NR > 1) {
    static_assert(NR <= 4, "the tail below covers up to 3 w rows");
    const float* bias_j = bias != nullptr ? bias + j : nullptr;
    switch (n - j) {
      case 1:
        Tiles::template run<MR, 1>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      case 2:
        if constexpr (NR > 2) Tiles::template run<MR, 2>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      case 3:
        if constexpr (NR > 3) Tiles::template run<MR, 3>(x, w + j * k, bias_j, out + j, k, ldo);
        break;
      default:
        break;
    }
  }
}

// m x rows against n w rows in tiles of Tiles::kTileM x rows (then the ones left over) by NR w rows.
template <typename Tiles, int NR, typename X, typename W>
inline void tile_block(const X* x, const W* w, const float* bias, float* out, int64_t m, int64_t n, int64_t k,
                       int64_t ldo) {
  constexpr int TM = Tiles::kTileM;
  static_assert(TM <= 4, "the tail below covers up to 3 x rows");
  int64_t i = 0;
  for (; i + TM <= m; i += TM) {
    row_tiles<Tiles, TM, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
  }
  switch (m - i) {
    case 1:
      row_tiles<Tiles, 1, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
      break;
    case 2:
      if constexpr (TM > 2) row_tiles<Tiles, 2, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
      break;
    case 3:
      if constexpr (TM > 3) row_tiles<Tiles, 3, NR>(x + i * k, w, bias, out + i * ldo, n, k, ldo);
      break;
    default:
      break;
  }
}

}  // namespace autoglm

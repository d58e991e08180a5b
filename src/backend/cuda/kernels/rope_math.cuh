// The per-pair math of the CUDA rope kernels (rope.cu and rope_kv_store.cu), so both rotate alike:
// angle = float(position) * inv_freq[i] in f32, then the accurate sincosf (2 ulp over the full range,
// Payne-Hanek reduction for large angles; __sinf would be off by far more at positions in the thousands), as
// HF transformers and the CPU kernels (backend/cpu/kernels/rope_rows.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda_rope {

// Which pair layout, and whether interleaved pairs are read as one float2 (an even head_dim and 8-byte
// aligned bases).
enum class PairAccess { kNeox, kInterleavedScalar, kInterleavedVec2 };

__device__ __forceinline__ void angle_sincos(int32_t position, float inv_freq, float* s, float* c) {
  sincosf(static_cast<float>(position) * inv_freq, s, c);
}

// The pair (x0, x1) rotated by the angle whose sine and cosine are s and c.
__device__ __forceinline__ float2 rotate(float2 x, float s, float c) {
  return make_float2(x.x * c - x.y * s, x.y * c + x.x * s);
}

// Dims of pair i in a head row: (i, i + half) for kNeox, (2i, 2i + 1) for kInterleaved.
template <PairAccess kAccess>
__device__ __forceinline__ int64_t pair_first(int64_t i, int64_t half) {
  return kAccess == PairAccess::kNeox ? i : 2 * i;
}
template <PairAccess kAccess>
__device__ __forceinline__ int64_t pair_second(int64_t i, int64_t half) {
  return kAccess == PairAccess::kNeox ? i + half : 2 * i + 1;
}

template <PairAccess kAccess>
__device__ __forceinline__ float2 load_pair(const float* row, int64_t i, int64_t half) {
  if constexpr (kAccess == PairAccess::kInterleavedVec2) {
    return reinterpret_cast<const float2*>(row)[i];
  } else {
    return make_float2(row[pair_first<kAccess>(i, half)], row[pair_second<kAccess>(i, half)]);
  }
}

template <PairAccess kAccess>
__device__ __forceinline__ void store_pair(float* row, int64_t i, int64_t half, float2 y) {
  if constexpr (kAccess == PairAccess::kInterleavedVec2) {
    reinterpret_cast<float2*>(row)[i] = y;
  } else {
    row[pair_first<kAccess>(i, half)] = y.x;
    row[pair_second<kAccess>(i, half)] = y.y;
  }
}

}  // namespace autoglm::cuda_rope

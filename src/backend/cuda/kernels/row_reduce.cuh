// Shared pieces of the row-wise CUDA kernels (rms_norm, layer_norm, softmax): a row of d elements is handled
// by a group of kGroup threads, either one warp (kGroup = 32, kRowBlock / 32 rows per block) or the whole
// block (kGroup = the block size, one row per block), and its statistics are reduced within the group in f32.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda_rows {

constexpr int kWarp = 32;
// Block size when a warp handles a row: 8 rows per block.
constexpr int kRowBlock = 256;

template <int kGroup>
constexpr int block_threads() {
  return kGroup == kWarp ? kRowBlock : kGroup;
}

struct Sum {
  static constexpr float kIdentity = 0.0f;
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};

struct Max {
  static constexpr float kIdentity = -__builtin_huge_valf();
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// The reduction of v over the kGroup threads of a row, returned to every one of them. smem holds one float
// per warp of the block; kGroup > 32 needs every thread of the block to call it (it has __syncthreads).
template <int kGroup, typename Op>
__device__ __forceinline__ float group_reduce(float v, float* smem, Op op) {
  v = warp_reduce(v, op);
  if constexpr (kGroup == kWarp) {
    return v;
  } else {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    __syncthreads();  // the previous reduction may still be reading smem
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    // Every warp combines the partials itself, so no broadcast is needed.
    v = lane < kGroup / kWarp ? smem[lane] : static_cast<float>(Op::kIdentity);
    return warp_reduce(v, op);
  }
}

// Row index and thread-in-group of this thread; rows past the end return -1 (whole warps only).
template <int kGroup>
__device__ __forceinline__ int64_t group_row(int64_t rows, int* lane_in_group) {
  constexpr int kRowsPerBlock = block_threads<kGroup>() / kGroup;
  *lane_in_group = static_cast<int>(threadIdx.x % kGroup);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kGroup;
  return row < rows ? row : -1;
}

inline bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Calls f.template operator()<kGroup>() with the group size for rows of d elements (already divided by the
// vector width): a warp for short rows (per-head norms), 256 threads up to 8192, 1024 beyond
// (vocabulary-sized softmax rows). A warp walking a hidden-size row alone is latency-bound (a 4096-float
// RMSNorm row took 18 us that way on an H100, against ~2 us with 256 threads), so a warp gets at most 8
// loads per lane. The choice depends on d only, never on the row count, so a row's result does not depend
// on how many rows share the call (batch invariance).
template <typename F>
void with_group_size(int64_t d, F&& f) {
  if (d <= 8 * kWarp) {
    f.template operator()<kWarp>();
  } else if (d <= 8192) {
    f.template operator()<256>();
  } else {
    f.template operator()<1024>();
  }
}

// Blocks for `rows` rows with groups of kGroup threads.
template <int kGroup>
unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(ceil_div(rows, block_threads<kGroup>() / kGroup));
}

}  // namespace autoglm::cuda_rows

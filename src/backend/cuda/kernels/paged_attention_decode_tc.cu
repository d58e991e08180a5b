// Split-K flash-decoding over a paged bf16 or f8_e4m3 KV cache on tensor cores, up to a few query rows per
// sequence (the semantics of ops/paged_attention.h; q f32, out f32 or bf16).
//
// Why tensor cores for a memory-bound kernel: the CUDA-core decode kernel (paged_attention_decode16.cu)
//   spends ~3,000 instructions per 16 keys of a Llama-3-8B KV head (dot products with shuffle reductions,
//   the softmax of each key on every lane, one block-table lookup per key and lane), so at the occupancy a
//   decode batch gives it runs at 0.1-0.6 of the KV-read floor (tools/bench/paged_attention_cuda.cpp). Here
//   16 keys cost ~100 instructions: the scores and O are mma.sync m16n8k16 products over the query heads of
//   one KV head (GQA: up to 8 of them), and one lookup serves 16 keys. Over bf16 caches the 16 keys are the
//   mma's rows and the heads its 8 columns (S^T = K Q^T, O^T += V^T P^T, P^T moved from the score fragments
//   into operand fragments by movmatrix.trans): 16 mma per tile of 16 keys, where the heads as 16 rows took
//   32 with 12 of 16 rows empty for a GQA group of 4 (Llama-3-8B), and 112 registers instead of 146 (head_dim
//   128, bulk copies); a mixed serving run near the power limit 0.4-0.5% faster (docs/BENCHMARKS.md). Over
//   f8_e4m3 caches the heads stay the rows (its K bytes are widened straight into operand fragments).
// Tiling: grid (KV head x tile of GT of its query heads, key split, query row), 4 warps per block, as the
//   other decode kernels, so the splits and the merge are shared. The block's key range is cut into tiles of
//   16 keys aligned to multiples of 16, so a tile lies in one cache block whenever block_size is a multiple
//   of 16 (then one block-table lookup per tile; otherwise one per key). Warp w takes tiles w, w + 4, ...
//   Each warp streams its tiles through its own ring of kStages K and V tiles in shared memory (rows padded
//   by 16 bytes, or swizzled, so the 8 rows an ldmatrix reads fall in distinct bank quads); kStages - 1 tiles
//   are in flight while one is computed. bf16 caches with head_dim 128 or 256 on sm_90+
//   (BackendOptions::bulk_copies): where cache blocks hold a multiple of 16 keys, a tile's K and V land as
//   D / 32 tensor copies of [16 keys x 64 dims] boxes (the copy unit's tensor form over a map of the cache,
//   tensor_map.h), in the 128-byte swizzle; with smaller blocks each lane lands one whole K or V row (256 or
//   512 bytes) by a bulk copy; otherwise (or off) each lane issues 16 cp.async of 16 bytes per tile. The
//   copy unit's copies count on the stage's transaction barrier; all three give the same bits. Fewer, larger
//   copies cost the copy unit and the SMs less: measured (tools/bench/paged_attention_cuda.cpp --sustain,
//   H100, 512 x 1,024, all L) per-lane cp.async 696-698 W (power-capped) at 2.80 TB/s, row bulk copies
//   611-650 W at 2.83-2.84, tensor copies 576 W at 3.00 TB/s; a mixed serving run near the power limit, where
//   the decode attention's energy is the GEMMs' loss, 0.9-1.2% faster with the row copies and
//   another 1.8-2.0% with the tensor copies (docs/BENCHMARKS.md). Per tile (bf16): S^T [16 keys x 8 heads] =
//   K Q^T over head_dim / 16 k-steps (K's A fragments by ldmatrix, Q^T's B fragments in registers), scores
//   scaled (or soft-capped) into the log2 domain, keys outside the row's range or of an invalid block masked,
//   the online softmax per head (max and rescale over the 8 lanes holding a head's keys; each lane keeps a
//   partial sum), P^T rounded to bf16 and transposed into the B fragments of O^T += V^T P^T (V^T's A
//   fragments by ldmatrix.trans); f8_e4m3: S [16 heads x 16 keys] = Q K^T and O += P V with P reused as an A
//   fragment. At the end the 4 warps' states meet in shared memory and are merged as in the other decode
//   kernels.
// f8_e4m3 caches: the same tiles of 16 keys, half the bytes, three stages per warp. K is read as bytes: the
//   mma's k index is permuted within each group of 64 dims so that a lane's B fragments of 4 k-steps are 16
//   consecutive bytes of its key row (one 128-bit shared load; rows unpadded, their 16-byte chunks XOR
//   swizzled on odd rows against bank conflicts), widened in registers by cvt.rn.f16x2.e4m3x2 (exact: every
//   e4m3 value is an f16). V is widened into an f16 tile of the warp's own for ldmatrix.trans. The products
//   run as f16 mma with q and the probabilities rounded to f16. Measured
//   (tools/bench/paged_attention_cuda.cpp
//   --cache fp8, H100): 0.82-0.88 of the read bandwidth at 256-512 x 1,024, against 0.76 with K widened like
//   V; Nsight Compute shows it bound by instruction latency (fixed-latency and shared-memory waits), not by
//   memory, unlike the bf16 kernel.
// Accumulation: f32 (mma), 2^x by ex2.approx (fast_exp2) in the log2 domain; q and the probabilities are
//   rounded to bf16 (f16 over f8_e4m3 caches), as in the tensor-core prefill (attention_bf16_prefill.cu):
//   within 1e-2 of the CPU's f32 result on the same cache values.
// Floor: 2 * n_keys * kv_heads * head_dim * sizeof(element) bytes per sequence / bandwidth (K and V read once
//   per KV head).
// Reference: the CPU paged kernel, tests/cuda/test_paged_attention.cpp (decode rows of bf16 and f8_e4m3
//   caches).
#include "backend/cuda/kernels/paged_attention_decode_tc.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/bulk_copy.cuh"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/tensor_map.h"

namespace autoglm::paged_decode_tc {
namespace {

using namespace cuda_attention;
using namespace cuda_paged;
using namespace cuda_kernels;
using attention_bf16::bf16;
using fp8 = __nv_fp8_e4m3;
using attention_bf16::cp_async_16;
using attention_bf16::cp_async_commit;
using attention_bf16::cp_async_wait;
using attention_bf16::fast_exp2;
using attention_bf16::kLog2e;
using attention_bf16::ldmatrix_x4;
using attention_bf16::ldmatrix_x4_trans;
using attention_bf16::mma_bf16;
using attention_bf16::mma_f16;
using attention_bf16::pack_bf16;
using attention_bf16::widen_e4m3x4;

// Blocks of 2 or 1 warps (6 or 12 per SM, the same warps per SM) were measured against 4: within 5% from
// batch 64 up (better at 64, worse at 256 x 1,024 with 1 warp) and 25-85% slower at batch 16, where 4 warps
// share a sequence's keys; serving 128 / 128 at 512 sequences did not change.
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kTileKeys = 16;

// What a cache element type C means for the tiles: elements per 16-byte copy; the stages of a warp's ring
// (K and V tiles in shared memory, kStages - 1 in flight while one is computed); and whether the landed
// tile is read by ldmatrix as it is (bf16: rows padded by 16 bytes) or, f8_e4m3, K read as bytes and V
// widened to f16 first (rows unpadded, their 16-byte chunks swizzled, see landed_chunk). An f8_e4m3 tile is
// half the bytes, so its ring holds one more stage: the bytes in flight per SM stay those of bf16 at the
// same three blocks per SM.
template <typename C>
struct CacheElement;
template <>
struct CacheElement<bf16> {
  static constexpr int kPerCopy = 8;
  static constexpr int kStages = 2;
  static constexpr bool kWidens = false;
};
template <>
struct CacheElement<fp8> {
  static constexpr int kPerCopy = 16;
  static constexpr int kStages = 3;
  static constexpr bool kWidens = true;
};

// How a warp's K and V tiles reach shared memory: 16-byte cp.async per lane (any cache); one bulk copy per
// key row and lane (bf16 rows of 256 bytes or more, sm_90+); or tensor copies of whole tiles, D / 64 per K or
// V tile (bf16 at head_dim 128 or 256 with cache blocks of a multiple of 16 keys, sm_90+), landed in the
// 128-byte swizzle instead of padded rows.
enum class Copies { kCpAsync, kBulkRows, kTensorTiles };

template <typename C, int D, int GT, Copies kMode>
struct Shape {
  static constexpr int kPerCopy = CacheElement<C>::kPerCopy;
  static constexpr bool kWidens = CacheElement<C>::kWidens;
  static constexpr int kStages = CacheElement<C>::kStages;
  static constexpr bool kSwizzled = kMode == Copies::kTensorTiles;
  static constexpr int kRawRow =
      kWidens || kSwizzled ? D : D + kPerCopy;          // C per shared row of a landed tile
  static constexpr int kRawTile = kTileKeys * kRawRow;  // C per landed K or V tile
  static constexpr int kCopies =
      kTileKeys * D / kPerCopy / 32;  // 16-byte copies per lane per tile, of K and V
  static constexpr size_t kWarpRing = size_t{kStages} * 2 * kRawTile;  // C per warp
  static constexpr int kRow = D + 8;              // 16-bit elements per row of a tile ldmatrix reads
  static constexpr int kTile = kTileKeys * kRow;  // 16-bit elements of its K or V
  static constexpr size_t kWarpBytes = kWarpRing * sizeof(C) + (kWidens ? kTile * sizeof(uint16_t) : 0);
  // Swizzled tiles start on 1,024-byte boundaries (the pattern's period): the ring is aligned up into this.
  static constexpr size_t kRingBytes = kWarps * kWarpBytes + (kSwizzled ? 1024 : 0);
  static constexpr size_t kStateBytes = sizeof(float) * kWarps * GT * (D + 2);
  // Bulk copies: one transaction barrier per stage and warp, after the ring or the states (never reused).
  static constexpr size_t kBarriersAt = kRingBytes > kStateBytes ? kRingBytes : kStateBytes;
  static constexpr size_t kSharedBytes =
      kBarriersAt + (kMode != Copies::kCpAsync ? sizeof(uint64_t) * kWarps * kStages : 0);
};

// Element offset of the 8 elements from dim0 of key `key` in a landed bf16 tile: rows of kRow elements, or
// (tensor copies) D / 64 blocks of [16 keys][64 dims] whose 16-byte chunk c of key k sits at c ^ (k % 8).
template <typename S, int D>
__device__ __forceinline__ int tile_at(int key, int dim0) {
  if constexpr (S::kSwizzled) {
    return dim0 / 64 * (kTileKeys * 64) + key * 64 + ((dim0 % 64 / 8) ^ (key % 8)) * 8;
  } else {
    return key * S::kRow + dim0;
  }
}

// Where 16-byte chunk `chunk` of landed row `row` sits in the row. f8_e4m3 rows of 128 bytes or more: chunk
// XOR 4 on odd rows, so that the 8 lanes of a quarter-warp reading chunks 4q .. 4q + 3 of rows g and g + 1
// (the K operand loads) hit all 32 banks once; whole-row reads stay conflict-free under any permutation.
template <typename C, int D>
__device__ __forceinline__ int landed_chunk(int chunk, int row) {
  if constexpr (CacheElement<C>::kWidens && D >= 128) {
    return chunk ^ (4 * (row & 1));
  } else {
    return chunk;
  }
}

// The transpose of an 8 x 8 matrix of 16-bit elements held as the mma fragments hold one (lane l: row l / 4,
// elements 2 (l % 4) and + 1, the first in the low half), in the same layout.
__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
  uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}

// The mma of the tile's operand type: bf16 for bf16 caches, f16 for widened f8_e4m3 ones.
template <typename C>
__device__ __forceinline__ void mma16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (CacheElement<C>::kWidens) {
    mma_f16(c, a, b0, b1);
  } else {
    mma_bf16(c, a, b0, b1);
  }
}

// Two f32 rounded to the operand type, lo at the lower half.
template <typename C>
__device__ __forceinline__ uint32_t pack16(float lo, float hi) {
  if constexpr (CacheElement<C>::kWidens) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    return pack_bf16(lo, hi);
  }
}

// Three blocks per SM where the ring allows it (head_dim <= 128: ~70 KB each): registers capped at 168.
// kBulkRows: each tile's 32 rows (16 keys of K and of V) land by one bulk copy per lane; kTensorTiles: by
// D / 32 tensor copies through k_map / v_map ([cache rows][kv_heads][D], boxes of 16 rows x 64 dims). Both
// count on the stage's transaction barrier, instead of 16 cp.async of 16 bytes per lane.
template <typename C, int D, int GT, Copies kMode>
__global__ void __launch_bounds__(kThreads, D <= 128 ? 3 : 1)
    decode_tc_kernel(Paged<C> p, int head_tiles, float* part_out, float* part_stats,
                     const __grid_constant__ CUtensorMap k_map, const __grid_constant__ CUtensorMap v_map) {
  using S = Shape<C, D, GT, kMode>;
  static_assert(kMode == Copies::kCpAsync || !S::kWidens,
                "bulk copies land rows as they are: bf16 caches only");
  [[maybe_unused]] constexpr bool kBulkCopies = kMode == Copies::kBulkRows && AUTOGLM_BULK_COPY_ARCH;
  [[maybe_unused]] constexpr bool kTensorCopies = kMode == Copies::kTensorTiles && AUTOGLM_BULK_COPY_ARCH;
  constexpr int kSteps = D / 16;
  constexpr float kNegInf = -INFINITY;
  extern __shared__ __align__(16) unsigned char shared[];

  wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  allow_dependent_launch();
  const DecodeBlock blk = decode_block<GT>(p, head_tiles);
  const int kv_head = blk.kv_head, split = blk.split, splits = blk.splits, heads = blk.heads;
  const int64_t row = blk.row, first_head = blk.first_head, key_begin = blk.key_begin, key_end = blk.key_end;
  const SeqView& sv = blk.sv;
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int g = lane / 4, t = lane % 4;  // the mma's row group and column pair

  const int64_t tile0 = key_begin / kTileKeys * kTileKeys;
  const int64_t n_tiles = key_end > tile0 ? (key_end - tile0 + kTileKeys - 1) / kTileKeys : 0;
  const int my_tiles = n_tiles > warp ? static_cast<int>((n_tiles - warp + kWarps - 1) / kWarps) : 0;
  const bool one_block_per_tile = p.block_size % kTileKeys == 0;

  unsigned char* ring_base =
      S::kSwizzled
          ? reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(shared) + 1023) & ~uintptr_t{1023})
          : shared;
  unsigned char* warp_shared = ring_base + warp * S::kWarpBytes;
  C* ring = reinterpret_cast<C*>(warp_shared);
  // f8_e4m3: the warp's V tile widened to f16, which ldmatrix.trans reads.
  uint16_t* widened_v = reinterpret_cast<uint16_t*>(warp_shared + S::kWarpRing * sizeof(C));
  const int64_t row_stride = p.kv_heads * D;
  const C* k_head = p.k + kv_head * D;
  const C* v_head = p.v + kv_head * D;
  // The first key of the warp's tile i.
  auto first_key = [&](int i) { return tile0 + (int64_t{warp} + int64_t{i} * kWarps) * kTileKeys; };
  uint32_t block_ok = 0;  // bit stage: the tile in that stage has a valid cache block (one lookup per tile)
#if AUTOGLM_BULK_COPY_ARCH
  uint64_t* barriers = reinterpret_cast<uint64_t*>(shared + S::kBarriersAt) + warp * S::kStages;
  if constexpr (kBulkCopies || kTensorCopies) {
    if (lane == 0) {
      for (int stage = 0; stage < S::kStages; ++stage)
        bulk_copy::barrier_init(barriers + stage, 1);
      bulk_copy::fence_barrier_init();
    }
    __syncwarp();
  }
  // Bulk copies of the warp's tile i: lane l lands row l % 16 of K (l < 16) or of V; a V row outside the
  // range is zeroed (its probability is 0, and 0 x NaN of stale bits would not be), a K row left as it is
  // (its score is masked by a select). Lane 0 announces the stage's bytes with its one arrival.
  auto issue_bulk = [&](int i) {
    if (i >= my_tiles) return;  // warp-uniform
    const int stage = i % S::kStages;
    const int64_t j0 = first_key(i);
    const int64_t base = one_block_per_tile ? cache_row(p, sv.s, j0) : -1;
    block_ok = (block_ok & ~(1u << stage)) | (static_cast<uint32_t>(base >= 0) << stage);
    const int key = lane % kTileKeys;
    const bool is_v = lane >= kTileKeys;
    const int64_t j = j0 + key;
    int64_t r = -1;
    if (j >= key_begin && j < key_end)
      r = one_block_per_tile ? (base >= 0 ? base + key : -1) : cache_row(p, sv.s, j);
    const bool fill = r >= 0;
    const uint32_t rows = __popc(__ballot_sync(0xffffffffu, fill));
    constexpr uint32_t kRowBytes = D * sizeof(C);
    C* dst = ring + stage * 2 * S::kRawTile + (is_v ? S::kRawTile : 0) + key * S::kRawRow;
    if (lane == 0) bulk_copy::arrive_expecting(barriers + stage, rows * kRowBytes);
    if (fill) {
      bulk_copy::copy_to_shared(dst, (is_v ? v_head : k_head) + r * row_stride, kRowBytes, barriers + stage);
    } else if (is_v) {
#pragma unroll
      for (int c = 0; c < D / S::kPerCopy; ++c)
        reinterpret_cast<uint4*>(dst)[c] = make_uint4(0u, 0u, 0u, 0u);
      bulk_copy::fence_shared_for_async_proxy();  // before a later use's bulk copy into this row
    }
  };
  // Tensor copies of the warp's tile i: lanes 0 .. D / 32 - 1 each land one [16 keys x 64 dims] box of K
  // (the first D / 64) or of V; lane 0 announces the stage's bytes. A tile of an invalid block is not copied
  // (its keys are masked, and wait_landed zeroes its V).
  auto issue_tensor = [&](int i) {
    if (i >= my_tiles) return;  // warp-uniform
    constexpr int kBoxes = D / 64;
    const int stage = i % S::kStages;
    const int64_t base = cache_row(p, sv.s, first_key(i));
    block_ok = (block_ok & ~(1u << stage)) | (static_cast<uint32_t>(base >= 0) << stage);
    if (lane == 0)
      bulk_copy::arrive_expecting(barriers + stage, base >= 0 ? 2 * kTileKeys * D * sizeof(C) : 0);
    if (base >= 0 && lane < 2 * kBoxes) {
      const bool is_v = lane >= kBoxes;
      const int box = lane % kBoxes;
      C* dst = ring + stage * 2 * S::kRawTile + (is_v ? S::kRawTile : 0) + box * kTileKeys * 64;
      bulk_copy::copy_box3_to_shared(dst, is_v ? &v_map : &k_map, box * 64, kv_head,
                                     static_cast<int32_t>(base), barriers + stage);
    }
  };
#endif
  // Copies the warp's tile i (keys of the range only; the rest of the tile is zero-filled).
  auto issue_cp_async = [&](int i) {
    const int stage = i % S::kStages;
    C* k_dst = ring + stage * 2 * S::kRawTile;
    C* v_dst = k_dst + S::kRawTile;
    const int64_t j0 = first_key(i);
    const bool live = i < my_tiles;
    const int64_t base = live && one_block_per_tile ? cache_row(p, sv.s, j0) : -1;
    block_ok = (block_ok & ~(1u << stage)) | (static_cast<uint32_t>(base >= 0) << stage);
#pragma unroll
    for (int c = 0; c < S::kCopies; ++c) {
      constexpr int kChunks = D / S::kPerCopy;  // 16-byte chunks per key row
      const int linear = c * 32 + lane, key = linear / kChunks, chunk = linear % kChunks;
      const int64_t j = j0 + key;
      bool fill = live && j >= key_begin && j < key_end;
      int64_t r = -1;
      if (fill) r = one_block_per_tile ? (base >= 0 ? base + key : -1) : cache_row(p, sv.s, j);
      fill = fill && r >= 0;
      const int64_t offset = fill ? r * row_stride + chunk * S::kPerCopy : 0;
      const int at = key * S::kRawRow + landed_chunk<C, D>(chunk, key) * S::kPerCopy;
      cp_async_16(k_dst + at, k_head + offset, fill);
      cp_async_16(v_dst + at, v_head + offset, fill);
    }
    cp_async_commit();  // an empty group past the last tile keeps the group count in step
  };
  auto issue = [&](int i) {
#if AUTOGLM_BULK_COPY_ARCH
    if constexpr (kBulkCopies) {
      issue_bulk(i);
      return;
    }
    if constexpr (kTensorCopies) {
      issue_tensor(i);
      return;
    }
#endif
    issue_cp_async(i);
  };
  // Returns once tile i has landed for every lane of the warp.
  auto wait_landed = [&](int i) {
#if AUTOGLM_BULK_COPY_ARCH
    if constexpr (kBulkCopies) {
      bulk_copy::wait_phase(barriers + i % S::kStages, static_cast<uint32_t>(i / S::kStages) & 1u);
      __syncwarp();  // and the V rows other lanes zeroed
      return;
    }
    if constexpr (kTensorCopies) {
      const int stage = i % S::kStages;
      bulk_copy::wait_phase(barriers + stage, static_cast<uint32_t>(i / S::kStages) & 1u);
      // Whole tiles land: the V rows of keys outside the range (or of an invalid block) are zeroed, since
      // their probabilities are 0 and 0 x NaN of stale bits would not be. K rows stay (their scores are
      // masked by a select).
      const int64_t j0 = first_key(i);
      const bool block_valid = (block_ok >> stage) & 1u;
      if (!block_valid || j0 < key_begin || j0 + kTileKeys > key_end) {  // warp-uniform
        C* v_dst = ring + stage * 2 * S::kRawTile + S::kRawTile;
        constexpr int kChunks = kTileKeys * D / 8;  // 16-byte chunks of the V tile
        for (int c = lane; c < kChunks; c += 32) {
          const int key = c / 8 % kTileKeys;
          const int64_t j = j0 + key;
          if (!block_valid || j < key_begin || j >= key_end)
            reinterpret_cast<uint4*>(v_dst)[c] = make_uint4(0u, 0u, 0u, 0u);
        }
        bulk_copy::fence_shared_for_async_proxy();  // before a later use's tensor copy into this stage
      }
      __syncwarp();
      return;
    }
#endif
    cp_async_wait<S::kStages - 1>();  // this lane's copies of tile i have landed
    __syncwarp();                     // and every other lane's
  };
#pragma unroll
  for (int i = 0; i < S::kStages - 1; ++i)
    issue(i);
  // Issues the copies of tile i + kStages - 1 into the stage computed last, then waits for tile i; returns
  // tile i's stage.
  auto land = [&](int i) {
    __syncwarp();  // every lane is done reading the stage the next copies overwrite
    issue(i + S::kStages - 1);
    wait_landed(i);
    return i % S::kStages;
  };
  const float scale_log2 = p.scale * kLog2e;

  // The warps' states of each head, in the natural-log domain the merge works in: out = sum_w exp(m_w - M)
  // acc_w / sum_w exp(m_w - M) l_w (shared memory, once the ring is done with).
  using StateAcc = float[kWarps][GT][D];
  using StateScalar = float[kWarps][GT];
  auto& state_acc = *reinterpret_cast<StateAcc*>(shared);
  auto& state_m = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc));
  auto& state_l = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc) + sizeof(StateScalar));
  if constexpr (!S::kWidens) {
    // Per tile, with the keys as the mma's rows: S^T [16 keys x 8 heads] = K Q^T (K's A fragments by
    // ldmatrix, Q^T's B fragments in registers), the online softmax per head (column), P^T rounded to bf16
    // and moved into B fragments by movmatrix.trans, then O^T [head_dim x 8 heads] += V^T P^T (V^T's A
    // fragments by ldmatrix.trans). Half the mma of 16 rows of heads (GQA groups of 4 filled 4 of those 16
    // rows), and half the accumulator registers. Q^T's B fragments: lane (g, t) holds head g's dims 16 ks +
    // 2t, + 1 and + 8, + 9 (zero past the tile's heads), rounded to bf16 once.
    uint32_t qb[kSteps][2];
    {
      const bool real = g < heads;
      const float* q_row = p.q + (row * p.q_heads + first_head + (real ? g : 0)) * D;
#pragma unroll
      for (int ks = 0; ks < kSteps; ++ks) {
        const float2 lo =
            real ? *reinterpret_cast<const float2*>(q_row + ks * 16 + 2 * t) : make_float2(0.0f, 0.0f);
        const float2 hi =
            real ? *reinterpret_cast<const float2*>(q_row + ks * 16 + 2 * t + 8) : make_float2(0.0f, 0.0f);
        qb[ks][0] = pack16<C>(lo.x, lo.y);
        qb[ks][1] = pack16<C>(hi.x, hi.y);
      }
    }
    // o[mt]: O^T's rows (dims) 16 mt + g ([0], [1]: heads 2t, 2t + 1) and 16 mt + g + 8 ([2], [3]).
    float o[kSteps][4];
#pragma unroll
    for (int mt = 0; mt < kSteps; ++mt)
      o[mt][0] = o[mt][1] = o[mt][2] = o[mt][3] = 0.0f;
    // Heads 2t and 2t + 1: running max (log2 domain, the same on the 8 lanes of a t) and this lane's part of
    // the sum.
    float m[2] = {kNegInf, kNegInf}, l[2] = {0.0f, 0.0f};
    for (int i = 0; i < my_tiles; ++i) {
      const int stage = land(i);
      const int64_t j0 = first_key(i);
      const bf16* k_tile = ring + stage * 2 * S::kRawTile;
      const bf16* v_tile = k_tile + S::kRawTile;
      // s: S^T at keys g ([0], [1]: heads 2t, 2t + 1) and g + 8 ([2], [3]).
      float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int ks = 0; ks < kSteps; ++ks) {
        uint32_t a[4];  // keys 0-7 / 8-15 x dims 0-7 / 8-15 of the step
        ldmatrix_x4(a, k_tile + tile_at<S, D>(lane % 8 + (lane / 8) % 2 * 8, ks * 16 + lane / 16 * 8));
        mma16<C>(s, a, qb[ks][0], qb[ks][1]);
      }

      float tile_max[2] = {kNegInf, kNegInf};
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t j = j0 + g + 8 * half;
        bool visible = j >= key_begin && j < key_end;
        if (one_block_per_tile) {
          visible = visible && ((block_ok >> stage) & 1u);
        } else if (visible) {
          visible = cache_row(p, sv.s, j) >= 0;
        }
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float x = s[2 * half + e];
          x = p.softcap > 0.0f ? p.softcap * tanhf(x * p.scale / p.softcap) * kLog2e : x * scale_log2;
          s[2 * half + e] = visible ? x : kNegInf;
          tile_max[e] = fmaxf(tile_max[e], s[2 * half + e]);
        }
      }
      float alpha[2];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
#pragma unroll
        for (int lanes = 4; lanes < 32; lanes *= 2)
          tile_max[e] = fmaxf(tile_max[e], __shfl_xor_sync(0xffffffffu, tile_max[e], lanes));
        const float m_new = fmaxf(m[e], tile_max[e]);
        // No visible key so far: every p is exp2(-inf) = 0 against a zero base, and nothing to rescale.
        const float base = m_new == kNegInf ? 0.0f : m_new;
        alpha[e] = fast_exp2(m[e] - base);
        s[e] = fast_exp2(s[e] - base);
        s[2 + e] = fast_exp2(s[2 + e] - base);
        l[e] = l[e] * alpha[e] + s[e] + s[2 + e];
        m[e] = m_new;
      }
#pragma unroll
      for (int mt = 0; mt < kSteps; ++mt) {
        o[mt][0] *= alpha[0];
        o[mt][1] *= alpha[1];
        o[mt][2] *= alpha[0];
        o[mt][3] *= alpha[1];
      }

      // P^T's B fragments: keys 2t, 2t + 1 (and + 8) of head g, from the score fragments (key g, heads 2t,
      // 2t + 1) by a transpose of each 8 x 8 half.
      const uint32_t b0 = movmatrix_trans(pack16<C>(s[0], s[1]));
      const uint32_t b1 = movmatrix_trans(pack16<C>(s[2], s[3]));
#pragma unroll
      for (int mt = 0; mt < kSteps; ++mt) {
        uint32_t a[4];  // V^T: dims 0-7 / 8-15 of the step x keys 0-7 / 8-15
        ldmatrix_x4_trans(a, v_tile + tile_at<S, D>(lane % 8 + lane / 16 * 8, mt * 16 + (lane / 8) % 2 * 8));
        mma16<C>(o[mt], a, b0, b1);
      }
    }
    cp_async_wait<0>();  // nothing may land in the ring once it holds the merge states (bulk: all waited)
    __syncthreads();

#pragma unroll
    for (int e = 0; e < 2; ++e) {
#pragma unroll
      for (int lanes = 4; lanes < 32; lanes *= 2)
        l[e] += __shfl_xor_sync(0xffffffffu, l[e], lanes);
      const int head = 2 * t + e;
      if (head < GT) {
#pragma unroll
        for (int mt = 0; mt < kSteps; ++mt) {
          state_acc[warp][head][mt * 16 + g] = o[mt][e];
          state_acc[warp][head][mt * 16 + g + 8] = o[mt][2 + e];
        }
        if (g == 0) {
          state_m[warp][head] = m[e] == kNegInf ? kNegInf : m[e] / kLog2e;
          state_l[warp][head] = l[e];
        }
      }
    }
  } else {
    // Q's A fragments (rows g: head g of the tile; rows g + 8 and heads past the tile's are zero), rounded to
    // f16 once. The k index of the mma is permuted within each group of 4 steps (64 dims): in step 4 grp + q,
    // lane t's k slots 2t, 2t + 1, 2t + 8, 2t + 9 hold dims 64 grp + 16 t + 4 q
    // .. + 3, so that its K operands of 4 steps are 16 consecutive bytes of one key row (one 128-bit shared
    // load); a dot product does not depend on the order of its terms.
    uint32_t qa[kSteps][4];
    {
      const bool real = g < heads;
      const float* q_row = p.q + (row * p.q_heads + first_head + (real ? g : 0)) * D;
#pragma unroll
      for (int ks = 0; ks < kSteps; ++ks) {
        const int lo_dim = ks / 4 * 64 + 16 * t + 4 * (ks % 4);
        const int hi_dim = lo_dim + 2;
        const float2 lo = real ? *reinterpret_cast<const float2*>(q_row + lo_dim) : make_float2(0.0f, 0.0f);
        const float2 hi = real ? *reinterpret_cast<const float2*>(q_row + hi_dim) : make_float2(0.0f, 0.0f);
        qa[ks][0] = pack16<C>(lo.x, lo.y);
        qa[ks][1] = 0;
        qa[ks][2] = pack16<C>(hi.x, hi.y);
        qa[ks][3] = 0;
      }
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m = kNegInf, l = 0.0f;  // row g's running max (log2 domain) and this lane's part of its sum
    for (int i = 0; i < my_tiles; ++i) {
      const int stage = land(i);
      const int64_t j0 = first_key(i);
      float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
      const bf16* v_tile;  // f16 widened from f8_e4m3, read by ldmatrix.trans
      {
        const C* k_raw = ring + stage * 2 * S::kRawTile;
        const C* v_raw = k_raw + S::kRawTile;
#pragma unroll
        for (int c = 0; c < S::kCopies; ++c) {
          constexpr int kChunks = D / S::kPerCopy;
          const int linear = c * 32 + lane, key = linear / kChunks, chunk = linear % kChunks;
          const uint4 x = *reinterpret_cast<const uint4*>(v_raw + key * S::kRawRow +
                                                          landed_chunk<C, D>(chunk, key) * S::kPerCopy);
          uint4 a, b;
          widen_e4m3x4(x.x, a.x, a.y);
          widen_e4m3x4(x.y, a.z, a.w);
          widen_e4m3x4(x.z, b.x, b.y);
          widen_e4m3x4(x.w, b.z, b.w);
          uint4* dst = reinterpret_cast<uint4*>(widened_v + key * S::kRow + chunk * S::kPerCopy);
          dst[0] = a;
          dst[1] = b;
        }
        // S = Q K^T straight from the landed bytes: key g (8 + g) of the tile, 16 bytes per group of 4 steps
        // (one 128-bit load). (Two accumulators per score tile, to halve the mma chain, measured slower: they
        // push the kernel past its 168 registers into spills.)
#pragma unroll
        for (int grp = 0; grp < kSteps / 4; ++grp) {
#pragma unroll
          for (int n = 0; n < 2; ++n) {
            const int key = n * 8 + g;
            const uint4 x = *reinterpret_cast<const uint4*>(
                k_raw + key * S::kRawRow + landed_chunk<C, D>(4 * grp + t, key) * S::kPerCopy);
            const uint32_t words[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
            for (int q = 0; q < 4; ++q) {
              uint32_t b0, b1;
              widen_e4m3x4(words[q], b0, b1);
              mma16<C>(s[n], qa[4 * grp + q], b0, b1);
            }
          }
        }
        __syncwarp();  // the widened V tile is complete
        v_tile = reinterpret_cast<const bf16*>(widened_v);
      }

      // Row g's scores of keys 8n + 2t + e in the log2 domain, -inf where the key is not visible.
      float tile_max = kNegInf;
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t j = j0 + n * 8 + 2 * t + e;
          bool visible = j >= key_begin && j < key_end;
          if (one_block_per_tile) {
            visible = visible && ((block_ok >> stage) & 1u);
          } else if (visible) {
            visible = cache_row(p, sv.s, j) >= 0;
          }
          float x = s[n][e];
          x = p.softcap > 0.0f ? p.softcap * tanhf(x * p.scale / p.softcap) * kLog2e : x * scale_log2;
          s[n][e] = visible ? x : kNegInf;
          tile_max = fmaxf(tile_max, s[n][e]);
        }
      }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m, tile_max);
      // No visible key so far: every p is exp2(-inf) = 0 against a zero base, and nothing to rescale.
      const float base = m_new == kNegInf ? 0.0f : m_new;
      const float alpha = fast_exp2(m - base);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        s[n][0] = fast_exp2(s[n][0] - base);
        s[n][1] = fast_exp2(s[n][1] - base);
        sum += s[n][0] + s[n][1];
      }
      l = l * alpha + sum;
      m = m_new;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= alpha;
        o[n][1] *= alpha;
      }

      // O += P V: the two score tiles are the A fragment of the tile's 16 keys (rows g + 8 zero).
      const uint32_t a[4] = {pack16<C>(s[0][0], s[0][1]), 0u, pack16<C>(s[1][0], s[1][1]), 0u};
#pragma unroll
      for (int dp = 0; dp < kSteps; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v_tile + (lane % 8 + (lane / 8) % 2 * 8) * S::kRow + dp * 16 + lane / 16 * 8);
        mma16<C>(o[2 * dp], a, b[0], b[1]);
        mma16<C>(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    cp_async_wait<0>();  // nothing may land in the ring once it holds the merge states (bulk: all waited)
    __syncthreads();

    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (g < GT) {
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        state_acc[warp][g][n * 8 + 2 * t] = o[n][0];
        state_acc[warp][g][n * 8 + 2 * t + 1] = o[n][1];
      }
      if (t == 0) {
        state_m[warp][g] = m == kNegInf ? kNegInf : m / kLog2e;
        state_l[warp][g] = l;
      }
    }
  }
  __syncthreads();
  store_merged_states<kWarps, GT, D>(state_acc, state_m, state_l, heads, D, row * p.q_heads + first_head,
                                     splits, split, p.out, part_out, part_stats, p.out16);
}

template <typename C, int D, int GT, Copies kMode>
void launch_kernel(CudaBackend& backend, const Paged<C>& p, int head_tiles, int splits, float* part_out,
                   float* part_stats, const CUtensorMap& k_map = {}, const CUtensorMap& v_map = {}) {
  constexpr size_t kSmem = Shape<C, D, GT, kMode>::kSharedBytes;
  if constexpr (kSmem > 48 * 1024) {
    // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
    static const cudaError_t opted_in =
        cudaFuncSetAttribute(decode_tc_kernel<C, D, GT, kMode>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(kSmem));
    (void)opted_in;  // a failure shows up as the launch error
  }
  const dim3 grid(static_cast<unsigned>(p.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(p.t));
  launch_dependent(backend, "paged_decode_tc_kernel", decode_tc_kernel<C, D, GT, kMode>, grid, dim3(kThreads),
                   kSmem, p, head_tiles, part_out, part_stats, k_map, v_map);
}

template <typename C, int D, int GT>
void launch_shape(CudaBackend& backend, const Paged<C>& p, int head_tiles, int splits, float* part_out,
                  float* part_stats) {
  // Rows of 256 bytes or more only: over f8_e4m3 caches, with 128-byte rows (head_dim 128), the bulk copies,
  // twice as many per byte, were measured 1.3x slower (512 x 1,024: 523 against 398 us per call, H100); the
  // copy unit's rate of small copies, not the bytes, then sets the pace. bf16 at head_dim 64 has such rows
  // too, and keeps cp.async with them.
  if constexpr (!CacheElement<C>::kWidens && D * sizeof(C) >= 256) {
    if (backend.bulk_copies()) {
      // Whole tiles by tensor copies where a tile of 16 keys lies in one cache block: K and V as [cache rows]
      // [kv_heads][D], boxes of 16 rows x 64 dims, 128-byte swizzled.
      CUtensorMap k_map, v_map;
      const uint64_t rows = static_cast<uint64_t>(p.n_blocks * p.block_size);
      const uint64_t heads = static_cast<uint64_t>(p.kv_heads), row_bytes = heads * D * sizeof(C);
      auto encode = [&](CUtensorMap* map, const C* base) {
        return encode_bf16_map(map, base, {D, heads, rows}, {D * sizeof(C), row_bytes}, {64, 1, kTileKeys},
                               CU_TENSOR_MAP_SWIZZLE_128B);
      };
      if (p.block_size % kTileKeys == 0 && encode(&k_map, p.k) && encode(&v_map, p.v)) {
        launch_kernel<C, D, GT, Copies::kTensorTiles>(backend, p, head_tiles, splits, part_out, part_stats,
                                                      k_map, v_map);
        return;
      }
      launch_kernel<C, D, GT, Copies::kBulkRows>(backend, p, head_tiles, splits, part_out, part_stats);
      return;
    }
  }
  launch_kernel<C, D, GT, Copies::kCpAsync>(backend, p, head_tiles, splits, part_out, part_stats);
}

bool aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

template <typename C>
bool supported_for(const Paged<C>& p) {
  return (p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256) && aligned16(p.k) && aligned16(p.v) &&
         aligned16(p.q);
}

template <typename C>
void launch_for(CudaBackend& backend, const Paged<C>& p, int splits, float* part_out, float* part_stats) {
  const int tiles = static_cast<int>(head_tiles(p.group));
  with_head_tile(p.group, [&]<int GT>() {
    if (p.head_dim == 64) {
      launch_shape<C, 64, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else if (p.head_dim == 128) {
      launch_shape<C, 128, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else {
      launch_shape<C, 256, GT>(backend, p, tiles, splits, part_out, part_stats);
    }
  });
}

}  // namespace

bool supported(const Paged<bf16>& p) {
  return supported_for(p);
}
bool supported(const Paged<fp8>& p) {
  return supported_for(p);
}

void launch(CudaBackend& backend, const Paged<bf16>& p, int splits, float* part_out, float* part_stats) {
  launch_for(backend, p, splits, part_out, part_stats);
}
void launch(CudaBackend& backend, const Paged<fp8>& p, int splits, float* part_out, float* part_stats) {
  launch_for(backend, p, splits, part_out, part_stats);
}

}  // namespace autoglm::paged_decode_tc

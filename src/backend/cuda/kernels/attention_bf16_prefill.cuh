// The bf16 tensor-core flash-attention prefill, shared by the contiguous-cache kernel
// (attention_bf16_prefill.cu) and the paged-cache kernel (paged_attention_bf16_prefill.cu): the sm_80+
// primitives (cp.async, ldmatrix, mma.sync m16n8k16), the tile shapes, the Q tile load, one key tile of the
// online softmax (S = Q K^T, scale / softcap / mask, rescale, O += P V) and the final store; and the paged
// metadata view (Paged, seq_view, cache_row) that paged_attention.cu and the paged tensor-core kernel read,
// with the latter's entry point. The tiling is described in attention_bf16_prefill.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_bf16.cuh"
#include "backend/cuda/kernels/prefill_row_blocks.h"
#include "core/fp8.h"

namespace autoglm {

namespace cuda_paged {

// Everything the paged kernels need, by value. T: the cache element.
template <typename T>
struct Paged {
  const float* q;
  const T* k;
  const T* v;
  float* out;
  __nv_bfloat16* out16;         // set instead of out: the rows in bf16 (ops/paged_attention.h)
  const int32_t* block_tables;  // [n_seqs, max_blocks]
  const int32_t* q_start;       // [n_seqs + 1]
  const int32_t* seq_lens;      // [n_seqs]
  int64_t t, n_seqs, max_blocks, block_size, n_blocks;
  int block_shift;  // log2(block_size) when it is a power of two, else -1
  int64_t q_heads, kv_heads, group, head_dim;
  int64_t window;
  float scale, softcap;
  int64_t split_keys;  // decode: positions per split, from 0
};

// A sequence's place in the batch, read from the metadata; valid == false: out of range, its rows are NaN.
struct SeqView {
  int64_t s, q_begin, q_len, pos0;
  bool valid;
};

template <typename T>
__device__ __forceinline__ SeqView seq_view(const Paged<T>& p, int64_t s) {
  SeqView v;
  v.s = s;
  v.q_begin = p.q_start[s];
  v.q_len = int64_t{p.q_start[s + 1]} - v.q_begin;
  const int64_t len = p.seq_lens[s];
  v.pos0 = len - v.q_len;
  v.valid = v.q_begin >= 0 && v.q_len >= 0 && v.q_begin + v.q_len <= p.t && v.pos0 >= 0 &&
            len <= p.max_blocks * p.block_size;
  return v;
}

// Cache row of position j of sequence s, or -1 when its block id is outside the cache. Positions and block
// sizes fit 31 bits (i32 metadata), so the division is a shift for power-of-two blocks and 32-bit otherwise
// (it runs once per key and lane in the decode loop).
template <typename T>
__device__ __forceinline__ int64_t cache_row(const Paged<T>& p, int64_t s, int64_t j) {
  const uint32_t pos = static_cast<uint32_t>(j), size = static_cast<uint32_t>(p.block_size);
  const uint32_t index = p.block_shift >= 0 ? pos >> p.block_shift : pos / size;
  const uint32_t offset = p.block_shift >= 0 ? pos & (size - 1) : pos % size;
  const int64_t block = p.block_tables[s * p.max_blocks + index];
  return block >= 0 && block < p.n_blocks ? block * p.block_size + offset : -1;
}

// The sequence holding packed row `row`: the last s with q_start[s] <= row (binary search).
template <typename T>
__device__ __forceinline__ int64_t seq_of_row(const Paged<T>& p, int64_t row) {
  int64_t lo = 0, hi = p.n_seqs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (p.q_start[mid] <= row) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// seq_of_row for a decode kernel's row: decode rows come first, one per sequence (row s of sequence s), which
// two independent loads confirm; otherwise the binary search.
template <typename T>
__device__ __forceinline__ int64_t decode_seq_of_row(const Paged<T>& p, int64_t row) {
  if (row < p.n_seqs && p.q_start[row] == row && p.q_start[row + 1] == row + 1) return row;
  return seq_of_row(p, row);
}

// The keys [*begin, *end) that packed row `row` of sequence view sv sees in key split `split` of a decode
// kernel: its causal (and sliding-window) range cut to the split's positions; empty for a split past the
// visible keys or a row outside a valid sequence (whose output is then NaN).
template <typename T>
__device__ __forceinline__ void decode_key_range(const Paged<T>& p, const SeqView& sv, int64_t row, int split,
                                                 int64_t* begin, int64_t* end) {
  const int64_t i = row - sv.q_begin;
  *begin = 0;
  *end = 0;
  if (sv.valid && i >= 0 && i < sv.q_len) {
    const int64_t pos = sv.pos0 + i;
    *begin = max(cuda_attention::first_key(pos, p.window), split * p.split_keys);
    *end = min(pos + 1, (split + 1) * p.split_keys);
  }
}

// Where a split-K decode block works (grid: KV head x tile of GT of its query heads, key split, query row):
// its KV head, split, packed query row, first query head, the number of its GT heads that exist, the row's
// sequence and the keys [key_begin, key_end) it attends in its split (empty for a split past the visible keys
// or an invalid row, whose output is then NaN). Reads the metadata: call it after wait_for_prior_kernels().
struct DecodeBlock {
  int kv_head, split, splits;
  int64_t row, first_head;
  int heads;
  SeqView sv;
  int64_t key_begin, key_end;
};

template <int GT, typename T>
__device__ __forceinline__ DecodeBlock decode_block(const Paged<T>& p, int head_tiles) {
  DecodeBlock b;
  b.kv_head = static_cast<int>(blockIdx.x) / head_tiles;
  const int tile = static_cast<int>(blockIdx.x) % head_tiles;
  b.split = static_cast<int>(blockIdx.y);
  b.splits = static_cast<int>(gridDim.y);
  b.row = blockIdx.z;
  b.first_head = b.kv_head * p.group + int64_t{tile} * GT;
  b.heads = static_cast<int>(min(int64_t{GT}, p.group - int64_t{tile} * GT));
  b.sv = seq_view(p, decode_seq_of_row(p, b.row));
  decode_key_range(p, b.sv, b.row, b.split, &b.key_begin, &b.key_end);
  return b;
}

}  // namespace cuda_paged

namespace attention_bf16 {

constexpr float kLog2e = 1.4426950408889634f;

// ---- tensor-core primitives (sm_80+) ----

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared (dst: a shared-window address, or a pointer to shared memory), bypassing L1;
// zero-filled (nothing read) when !fill.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool fill) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(fill ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool fill) {
  cp_async_16(smem_addr(dst), src, fill);
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}
// Returns once at most `pending` of this thread's committed copy groups are still in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives it.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}

// c (16x8 f32) += a (16x16 bf16, row) * b (16x8 bf16, col).
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// c (16x8 f32) += a (16x16 f16, row) * b (16x8 f16, col).
__device__ __forceinline__ void mma_f16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four e4m3 values (one 32-bit word, the first in the low byte) as two f16x2 words, exactly (every e4m3 value
// is an f16): one instruction per pair from sm_89 on; before it (the PTX kept for sm_80) core/fp8.h's
// conversion, so the module still loads there.
__device__ __forceinline__ void widen_e4m3x4(uint32_t x, uint32_t& lo, uint32_t& hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  const uint16_t x_lo = static_cast<uint16_t>(x & 0xffffu), x_hi = static_cast<uint16_t>(x >> 16);
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(lo) : "h"(x_lo));
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(hi) : "h"(x_hi));
#else
  uint32_t halves[2];
  for (int h = 0; h < 2; ++h) {
    const __half2 v = __floats2half2_rn(fp8_e4m3_to_f32(static_cast<uint8_t>(x >> (16 * h))),
                                        fp8_e4m3_to_f32(static_cast<uint8_t>(x >> (16 * h + 8))));
    halves[h] = *reinterpret_cast<const uint32_t*>(&v);
  }
  lo = halves[0];
  hi = halves[1];
#endif
}

// 2^x by the special-function unit alone (ex2.approx.ftz: ~2 ulp, 2^-inf = 0, results below 2^-126 flushed
// to 0), where exp2f adds range fix-ups around it; the probabilities it feeds are rounded to bf16 anyway.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (lo) at the lower address
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- tile shapes ----

// Keys per tile: the O accumulator holds D / 2 f32 registers per thread, so wide heads take fewer keys.
template <int D>
constexpr int prefill_keys() {
  return D <= 128 ? 64 : 32;
}

// Query rows per block of RB blocks of 16 rows (the mma's M) per warp.
template <int RB>
constexpr int prefill_rows() {
  return 16 * kWarps * RB;
}

// bf16 elements of a shared row: D plus 8 (16 bytes), so 8 consecutive rows start in distinct bank quads.
template <int D>
constexpr int prefill_row() {
  return D + 8;
}

// Q tile plus two stages of K and V tiles.
template <int D, int RB>
constexpr size_t prefill_smem_bytes() {
  return sizeof(bf16) * static_cast<size_t>(prefill_rows<RB>() + 4 * prefill_keys<D>()) * prefill_row<D>();
}

// ---- the pieces of a block's work (4 warps, prefill_rows<RB>() query rows, one query head) ----

// The Q tile into shared memory as bf16 (round to nearest even): row r < n_rows from q + r * q_stride
// (q: row 0 of the tile at the block's head), zeros past n_rows.
template <int D, int RB>
__device__ __forceinline__ void load_q_tile(bf16* q_s, const float* q, int64_t n_rows, int64_t q_stride) {
  constexpr int LD = prefill_row<D>();
  for (int idx = threadIdx.x; idx < prefill_rows<RB>() * D / 2; idx += kThreads) {
    const int r = idx / (D / 2), c = 2 * (idx % (D / 2));
    float x0 = 0.0f, x1 = 0.0f;
    if (r < n_rows) {
      const float* src = q + r * q_stride + c;
      x0 = src[0];
      x1 = src[1];
    }
    *reinterpret_cast<uint32_t*>(q_s + r * LD + c) = pack_bf16(x0, x1);
  }
}

// One key tile of BN keys (k_tile, v_tile: [BN][LD] in shared memory) against the warp's RB blocks of 16
// query rows (block rb holds rows warp * 16 RB + 16 rb of the block's): S = Q
// K^T, scores scaled (or soft-capped) into the log2 domain, masked(jj, r) -> -inf for key jj of the tile and
// the thread's row r (quad_row + 8 (r % 2) of row block r / 2) unless `full`, online softmax with the running
// max m and partial sum l per row, O += P V with P rounded to bf16.
template <int D, int RB, typename Masked>
__device__ __forceinline__ void attend_tile(const bf16* q_s, const bf16* k_tile, const bf16* v_tile,
                                            bool full, float scale, float softcap, Masked&& masked,
                                            float (&o)[RB][D / 8][4], float (&m)[RB][2], float (&l)[RB][2]) {
  constexpr int BN = prefill_keys<D>(), LD = prefill_row<D>();
  constexpr int kSteps = D / 16;  // k-steps of S = Q K^T
  constexpr int kScoreTiles = BN / 8, kOutTiles = D / 8;
  constexpr float kNegInf = -INFINITY;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int quad_col = lane % 4;
  const float scale_log2 = scale * kLog2e;
  const bf16* q_warp = q_s + warp * 16 * RB * LD;

  float s[RB][kScoreTiles][4];
#pragma unroll
  for (int rb = 0; rb < RB; ++rb) {
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n)
      s[rb][n][0] = s[rb][n][1] = s[rb][n][2] = s[rb][n][3] = 0.0f;
  }
#pragma unroll
  for (int ks = 0; ks < kSteps; ++ks) {
    uint32_t a[RB][4];
#pragma unroll
    for (int rb = 0; rb < RB; ++rb)
      ldmatrix_x4(a[rb], q_warp + (rb * 16 + lane % 8 + (lane / 8) % 2 * 8) * LD + ks * 16 + lane / 16 * 8);
#pragma unroll
    for (int np = 0; np < BN / 16; ++np) {
      uint32_t b[4];
      ldmatrix_x4(b, k_tile + (np * 16 + lane % 8 + lane / 16 * 8) * LD + ks * 16 + (lane / 8) % 2 * 8);
#pragma unroll
      for (int rb = 0; rb < RB; ++rb) {
        mma_bf16(s[rb][2 * np], a[rb], b[0], b[1]);
        mma_bf16(s[rb][2 * np + 1], a[rb], b[2], b[3]);
      }
    }
  }

  // Scores in the log2 domain; the mask only where some (row, key) of the tile is invisible. Both choices are
  // made once per tile (uniform across the block), so the common tile (no softcap, fully visible) is a plain
  // multiply per score.
#pragma unroll
  for (int rb = 0; rb < RB; ++rb) {
    if (softcap > 0.0f) {
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[rb][n][e] = softcap * tanhf(s[rb][n][e] * scale / softcap) * kLog2e;
      }
    } else {
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[rb][n][e] *= scale_log2;
      }
    }
    if (!full) {
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (masked(n * 8 + 2 * quad_col + (e & 1), 2 * rb + e / 2)) s[rb][n][e] = kNegInf;
      }
    }
  }

  // Online softmax per row: the 4 lanes of a quad share a row.
#pragma unroll
  for (int rb = 0; rb < RB; ++rb) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = kNegInf;
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n)
        tile_max = fmaxf(tile_max, fmaxf(s[rb][n][2 * r], s[rb][n][2 * r + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[rb][r], tile_max);
      // No visible key so far: every p is exp2(-inf) = 0 against a zero base, and nothing to rescale.
      const float base = m_new == kNegInf ? 0.0f : m_new;
      const float alpha = fast_exp2(m[rb][r] - base);  // m = -inf: 0, and o, l are still 0
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) {
        s[rb][n][2 * r] = fast_exp2(s[rb][n][2 * r] - base);
        s[rb][n][2 * r + 1] = fast_exp2(s[rb][n][2 * r + 1] - base);
        sum += s[rb][n][2 * r] + s[rb][n][2 * r + 1];
      }
      l[rb][r] = l[rb][r] * alpha + sum;
#pragma unroll
      for (int n = 0; n < kOutTiles; ++n) {
        o[rb][n][2 * r] *= alpha;
        o[rb][n][2 * r + 1] *= alpha;
      }
      m[rb][r] = m_new;
    }
  }

  // O += P V: the accumulators of score tiles 2kk and 2kk + 1 are the A fragment of keys [16kk, 16kk + 16).
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk) {
    uint32_t a[RB][4];
#pragma unroll
    for (int rb = 0; rb < RB; ++rb) {
      a[rb][0] = pack_bf16(s[rb][2 * kk][0], s[rb][2 * kk][1]);
      a[rb][1] = pack_bf16(s[rb][2 * kk][2], s[rb][2 * kk][3]);
      a[rb][2] = pack_bf16(s[rb][2 * kk + 1][0], s[rb][2 * kk + 1][1]);
      a[rb][3] = pack_bf16(s[rb][2 * kk + 1][2], s[rb][2 * kk + 1][3]);
    }
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, v_tile + (kk * 16 + lane % 8 + (lane / 8) % 2 * 8) * LD + dp * 16 + lane / 16 * 8);
#pragma unroll
      for (int rb = 0; rb < RB; ++rb) {
        mma_bf16(o[rb][2 * dp], a[rb], b[0], b[1]);
        mma_bf16(o[rb][2 * dp + 1], a[rb], b[2], b[3]);
      }
    }
  }
}

// out = O / l for the thread's rows below n_rows (out: row 0 of the tile at the block's head, rows
// row_stride apart; out16 instead: the same rows in bf16, rounded to nearest-even); a row that saw no key is
// 0 / 0 = NaN.
template <int D, int RB>
__device__ __forceinline__ void store_rows(const float (&o)[RB][D / 8][4], const float (&l)[RB][2],
                                           float* out, int64_t n_rows, int64_t row_stride,
                                           __nv_bfloat16* out16 = nullptr) {
  constexpr int kOutTiles = D / 8;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int quad_row = lane / 4, quad_col = lane % 4;
#pragma unroll
  for (int rb = 0; rb < RB; ++rb) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = l[rb][r];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int64_t i = (warp * RB + rb) * 16 + quad_row + 8 * r;
      if (i >= n_rows) continue;
      const float inv = 1.0f / sum;
      if (out16 != nullptr) {
        __nv_bfloat16* dst = out16 + i * row_stride + 2 * quad_col;
#pragma unroll
        for (int n = 0; n < kOutTiles; ++n)
          *reinterpret_cast<__nv_bfloat162*>(dst + n * 8) =
              __floats2bfloat162_rn(o[rb][n][2 * r] * inv, o[rb][n][2 * r + 1] * inv);
        continue;
      }
      float* dst = out + i * row_stride + 2 * quad_col;
#pragma unroll
      for (int n = 0; n < kOutTiles; ++n) {
        dst[n * 8] = o[rb][n][2 * r] * inv;
        dst[n * 8 + 1] = o[rb][n][2 * r + 1] * inv;
      }
    }
  }
}

// The thread's rows of its warp's row blocks (row r: quad_row + 8 (r % 2) of block r / 2, as attend_tile
// numbers them) as positions first_pos + row, or -1 (sees no key) from row n_rows on.
template <int D, int RB>
__device__ __forceinline__ void thread_row_positions(int64_t first_pos, int64_t n_rows,
                                                     int32_t (&pos)[2 * RB]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int r = 0; r < 2 * RB; ++r) {
    const int64_t i = (warp * RB + r / 2) * 16 + lane / 4 + 8 * (r % 2);
    pos[r] = i < n_rows ? static_cast<int32_t>(first_pos + i) : -1;
  }
}

// Zeroed O accumulators, running maxima at -inf (log2 domain) and partial sums at 0.
template <int D, int RB>
__device__ __forceinline__ void clear_accumulators(float (&o)[RB][D / 8][4], float (&m)[RB][2],
                                                   float (&l)[RB][2]) {
#pragma unroll
  for (int rb = 0; rb < RB; ++rb) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[rb][n][0] = o[rb][n][1] = o[rb][n][2] = o[rb][n][3] = 0.0f;
    m[rb][0] = m[rb][1] = -INFINITY;
    l[rb][0] = l[rb][1] = 0.0f;
  }
}

// Calls fn.template operator()<RB>() with the row blocks per warp that prefill_row_blocks.h picks for t query
// rows of q_heads heads on `sms` SMs: 2 only where they are compiled (two_row_blocks_compiled(D)), else 1.
template <int D, typename Fn>
void with_row_blocks(int64_t t, int64_t q_heads, int sms, Fn&& fn) {
  if constexpr (two_row_blocks_compiled(D)) {
    if (prefill_launch_row_blocks(t, q_heads, D, sms) == 2) {
      fn.template operator()<2>();
      return;
    }
  }
  fn.template operator()<1>();
}

// Calls fn.template operator()<D>() with D = head_dim, a multiple of 16 in [16, 256].
template <typename Fn>
void with_head_dim16(int64_t head_dim, Fn&& fn) {
  switch (head_dim / 16) {
    case 1:
      fn.template operator()<16>();
      break;
    case 2:
      fn.template operator()<32>();
      break;
    case 3:
      fn.template operator()<48>();
      break;
    case 4:
      fn.template operator()<64>();
      break;
    case 5:
      fn.template operator()<80>();
      break;
    case 6:
      fn.template operator()<96>();
      break;
    case 7:
      fn.template operator()<112>();
      break;
    case 8:
      fn.template operator()<128>();
      break;
    case 9:
      fn.template operator()<144>();
      break;
    case 10:
      fn.template operator()<160>();
      break;
    case 11:
      fn.template operator()<176>();
      break;
    case 12:
      fn.template operator()<192>();
      break;
    case 13:
      fn.template operator()<208>();
      break;
    case 14:
      fn.template operator()<224>();
      break;
    case 15:
      fn.template operator()<240>();
      break;
    default:
      fn.template operator()<256>();
      break;
  }
}

// ---- the paged kernels' work split ----

// Run by warp 0 of a paged prefill block: the (sequence, first row in it) of block `tile_index`, tiles of
// kRows rows sequence after sequence, each sequence's tiles last first. A sequence of q_len query rows has
// q_len * rows_per_query rows (the Hopper kernel packs the query heads of a KV head as rows: its
// rows_per_query is the GQA group; 1 elsewhere). Lane 0 writes *found; the lane holding the tile writes *seq
// and *row0.
template <int kRows, typename C>
__device__ void find_tile(const cuda_paged::Paged<C>& p, int64_t tile_index, int lane, int64_t rows_per_query,
                          bool* found, int64_t* seq, int64_t* row0) {
  int64_t first = 0;  // tiles of the sequences before this step's 32
  for (int64_t base = 0; base < p.n_seqs; base += 32) {
    const int64_t s = base + lane;
    int64_t n = 0;
    if (s < p.n_seqs) {
      const int64_t rows = (int64_t{p.q_start[s + 1]} - p.q_start[s]) * rows_per_query;
      n = rows > 0 ? (rows + kRows - 1) / kRows : 0;
    }
    int64_t end = n;  // inclusive prefix sum over the lanes
#pragma unroll
    for (int offset = 1; offset < 32; offset *= 2) {
      const int64_t y = __shfl_up_sync(0xffffffffu, end, offset);
      if (lane >= offset) end += y;
    }
    const int64_t begin = first + end - n;
    const bool hit = tile_index >= begin && tile_index < first + end;  // n > 0 there
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (ballot != 0) {
      if (hit) {
        *seq = s;
        *row0 = (n - 1 - (tile_index - begin)) * kRows;
      }
      if (lane == 0) *found = true;
      return;
    }
    first += __shfl_sync(0xffffffffu, end, 31);
  }
  if (lane == 0) *found = false;
}

// ---- the paged kernel (paged_attention_bf16_prefill.cu) ----

// Whether the paged tensor-core prefill takes these caches: head_dim a multiple of 16 in [16, 256] and
// 16-byte aligned cache bases (rows are then 16-byte aligned too).
bool paged_prefill_supported(const cuda_paged::Paged<bf16>& p);
bool paged_prefill_supported(const cuda_paged::Paged<__nv_fp8_e4m3>& p);

// The prefill rows of p (every sequence of it; decodes may be split off beforehand by offsetting the
// metadata pointers, q_start staying absolute), `rows` of them in all (p.t less the rows split off: the grid
// and the rows per warp are sized from it). Needs paged_prefill_supported(p), 0 < rows <= p.t,
// p.n_seqs > 0.
void launch_paged_prefill(CudaBackend& backend, const cuda_paged::Paged<bf16>& p, int64_t rows);
void launch_paged_prefill(CudaBackend& backend, const cuda_paged::Paged<__nv_fp8_e4m3>& p, int64_t rows);

// ---- the Hopper kernel (paged_attention_prefill_wgmma.cu) ----

// Whether the warpgroup-MMA prefill takes p on this backend: CudaBackend::warpgroup_mma(), the kernel built
// for sm_90a, head_dim 128, a GQA group of at most 64 query heads, the cache bounds and alignments of
// paged_prefill_supported and 16-byte aligned q. launch_paged_prefill over bf16 caches takes it then.
bool wgmma_prefill_supported(const CudaBackend& backend, const cuda_paged::Paged<bf16>& p);
void launch_wgmma_prefill(CudaBackend& backend, const cuda_paged::Paged<bf16>& p, int64_t rows);

}  // namespace attention_bf16
}  // namespace autoglm

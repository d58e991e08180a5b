// CUDA causal grouped-query attention over a contiguous bf16 KV cache (the semantics of ops/attention.h);
// q and out are f32. The f32-cache kernels (attention.cu) stay the exact path; this one trades the rounding
// of Q and P to bf16 (prefill) for tensor cores.
//
// Layout: q, out [t, q_heads, head_dim] f32; caches [capacity, kv_heads, head_dim] bf16 (key j of KV head g
//   at (j * kv_heads + g) * head_dim). Query row i sits at position q_pos0 + i and sees keys
//   [max(0, pos - window + 1) if window else 0, pos]. Query head h reads KV head h / group.
//
// Prefill (t > kDecodeMaxRows, head_dim D a multiple of 16 up to 256, 16-byte aligned caches): flash
//   attention on tensor cores (FA2 layout). Grid (query tile of 64 rows, query head), tiles longest first; a
//   block of 4 warps, 16 query rows per warp. The Q tile is converted f32 -> bf16 (round to nearest even)
//   into shared memory once; K and V tiles of BN keys (64 for D <= 128, else 32: the O accumulator holds
//   D / 2 f32 registers per thread) stream through two shared-memory stages by cp.async (16 bytes per copy,
//   keys past the block's last visible one zero-filled, so NaN in unseen rows never reaches a product), the
//   next tile in flight while the current one is computed. Rows are padded by 16 bytes so the 8 row
//   addresses of each ldmatrix hit distinct banks. S = Q K^T by mma.sync m16n8k16 (bf16 in, f32
//   accumulate; A from ldmatrix of Q, B from ldmatrix of K rows); scale, softcap and mask in f32 (the mask
//   only on tiles that cross the causal diagonal, the window edge or the end of t); online softmax in the
//   log2 domain with the running max and sum per row in registers (quad shuffles); P rounded to bf16 is the
//   A operand of O += P V straight from the S accumulators (their fragment layouts coincide), B from
//   ldmatrix.trans of V. Key tiles before the window or after the diagonal of the whole query tile are
//   never loaded. The query heads of a KV head re-read its K/V tiles through L2 (1 MiB per KV head at 2,048
//   tokens and D = 128), so heads are not packed into one block.
// Decode (t <= kDecodeMaxRows, D a multiple of 8 up to 256): split-K flash-decoding as attention.cu's, with
//   16-byte loads of 8 bf16: L = 8, 16 or 32 lanes own the D / 8 chunks of one key (the other lanes of the
//   warp take the next keys), so a warp reads 32 / L keys side by side; every L-lane group keeps its own
//   online softmax (max, sum, unnormalized output) per query head of its GQA tile, merged in shared memory
//   by the block and, with several key splits, by attention_merge_bf16_kernel. Q, scores and outputs f32.
// Anything else (odd head_dim, D > 256, unaligned caches): attention_generic_bf16_kernel, one block per
//   (query row, head), correct and slow.
// Accumulation: f32 throughout (mma accumulators, softmax state, merges).
// Floor: prefill 4 * t * n_keys * q_heads * D FLOPs (about half under the causal mask; Llama-3-8B at 2,048
//   tokens: 34 GFLOP per layer, ~0.1 ms at 300 TFLOP/s of bf16 mma.sync); decode reads
//   2 * n_keys * kv_heads * D * 2 bytes (K and V) / bandwidth.
// Reference: the CPU f32 attention on the same bf16-rounded cache values (tests/cuda/test_attention_bf16.cpp).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int64_t kDecodeMaxRows = 4;
constexpr int64_t kMinKeysPerSplit = 64;
constexpr int64_t kMaxSplits = 256;
constexpr int kMaxHeadDim = 256;
constexpr int kPrefillRows = 16 * kWarps;  // query rows per block, 16 per warp (the mma's M)
constexpr float kLog2e = 1.4426950408889634f;

// Everything the kernels need, by value.
struct Geometry {
  const float* q;
  const bf16* k;
  const bf16* v;
  float* out;
  int64_t t, q_heads, kv_heads, group, head_dim;
  int64_t q_pos0, window;
  float scale, softcap;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// scale * dot, soft-capped as the op states.
__device__ __forceinline__ float finish_score(float dot, const Geometry& g) {
  float s = g.scale * dot;
  if (g.softcap > 0.0f) s = g.softcap * tanhf(s / g.softcap);
  return s;
}

// First key row visible to position pos.
__device__ __forceinline__ int64_t first_key(int64_t pos, int64_t window) {
  return window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
}

// The two bf16 of a 32-bit word as f32 (the lower address is the low half).
__device__ __forceinline__ float bf16_lo(uint32_t w) {
  return __uint_as_float(w << 16);
}
__device__ __forceinline__ float bf16_hi(uint32_t w) {
  return __uint_as_float(w & 0xffff0000u);
}

// ---- tensor-core primitives (sm_80+) ----

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; zero-filled (nothing read) when !fill.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool fill) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(fill ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
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

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (lo) at the lower address
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- prefill ----

template <int D>
constexpr int prefill_keys() {
  return D <= 128 ? 64 : 32;
}

// bf16 elements of a shared row: D plus 8 (16 bytes), so 8 consecutive rows start in distinct bank quads.
template <int D>
constexpr int prefill_row() {
  return D + 8;
}

// Q tile plus two stages of K and V tiles.
template <int D>
constexpr size_t prefill_smem_bytes() {
  return sizeof(bf16) * static_cast<size_t>(kPrefillRows + 4 * prefill_keys<D>()) * prefill_row<D>();
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_prefill_bf16_kernel(Geometry g) {
  constexpr int BN = prefill_keys<D>(), LD = prefill_row<D>();
  constexpr int kSteps = D / 16;  // k-steps of S = Q K^T
  constexpr int kScoreTiles = BN / 8, kOutTiles = D / 8, kChunks = D / 8;
  constexpr float kNegInf = -INFINITY;
  extern __shared__ uint4 smem_raw[];
  bf16* q_s = reinterpret_cast<bf16*>(smem_raw);  // [kPrefillRows][LD]
  bf16* k_s = q_s + kPrefillRows * LD;            // [2][BN][LD]
  bf16* v_s = k_s + 2 * BN * LD;                  // [2][BN][LD]

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int quad_row = lane / 4, quad_col = lane % 4;  // mma fragment coordinates
  const int64_t head = blockIdx.y, kv_head = head / g.group;
  const int64_t i0 = (int64_t{gridDim.x} - 1 - blockIdx.x) * kPrefillRows;  // longest tiles first
  const int64_t i_end = min(i0 + kPrefillRows, g.t);
  const int64_t pos_min = g.q_pos0 + i0, pos_max = g.q_pos0 + i_end - 1;
  const int64_t lo = first_key(pos_min, g.window), hi = pos_max + 1;  // keys any row of the block sees
  const int64_t q_stride = g.q_heads * D, kv_stride = g.kv_heads * D;
  const bf16* k_head = g.k + kv_head * D;
  const bf16* v_head = g.v + kv_head * D;

  // Keys [kt, kt + BN) into stage `stage`; keys >= hi zero-filled (their address clamped to key lo).
  auto load_tile = [&](int stage, int64_t kt) {
    for (int idx = threadIdx.x; idx < BN * kChunks; idx += kThreads) {
      const int jj = idx / kChunks, c = idx % kChunks;
      const bool in = kt + jj < hi;
      const int64_t offset = (in ? kt + jj : lo) * kv_stride + c * 8;
      cp_async_16(k_s + (stage * BN + jj) * LD + c * 8, k_head + offset, in);
      cp_async_16(v_s + (stage * BN + jj) * LD + c * 8, v_head + offset, in);
    }
    cp_async_commit();
  };
  load_tile(0, lo);

  for (int idx = threadIdx.x; idx < kPrefillRows * D / 2; idx += kThreads) {
    const int r = idx / (D / 2), c = 2 * (idx % (D / 2));
    float x0 = 0.0f, x1 = 0.0f;
    if (i0 + r < g.t) {
      const float* src = g.q + (i0 + r) * q_stride + head * D + c;
      x0 = src[0];
      x1 = src[1];
    }
    *reinterpret_cast<uint32_t*>(q_s + r * LD + c) = pack_bf16(x0, x1);
  }

  // This thread's rows of the warp's 16: quad_row and quad_row + 8. pos -1: a row past t sees no key.
  int64_t pos[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = i0 + warp * 16 + quad_row + 8 * r;
    pos[r] = i < g.t ? g.q_pos0 + i : -1;
  }
  const bool rows_full = i0 + kPrefillRows <= g.t;
  const float scale_log2 = g.scale * kLog2e;
  float o[kOutTiles][4];
#pragma unroll
  for (int n = 0; n < kOutTiles; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m[2] = {kNegInf, kNegInf}, l[2] = {0.0f, 0.0f};  // running max (log2 domain) and partial sum

  const int n_tiles = static_cast<int>((hi - lo + BN - 1) / BN);
  for (int it = 0; it < n_tiles; ++it) {
    const int64_t kt = lo + int64_t{it} * BN;
    const int stage = it & 1;
    cp_async_wait_all();
    __syncthreads();  // tile `it` (and, on the first pass, Q) visible; stage ^ 1 no longer read
    if (it + 1 < n_tiles) load_tile(stage ^ 1, kt + BN);
    const bf16* k_tile = k_s + stage * BN * LD;
    const bf16* v_tile = v_s + stage * BN * LD;

    float s[kScoreTiles][4];
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n)
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, q_s + (warp * 16 + lane % 8 + (lane / 8) % 2 * 8) * LD + ks * 16 + lane / 16 * 8);
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, k_tile + (np * 16 + lane % 8 + lane / 16 * 8) * LD + ks * 16 + (lane / 8) % 2 * 8);
        mma_bf16(s[2 * np], a, b[0], b[1]);
        mma_bf16(s[2 * np + 1], a, b[2], b[3]);
      }
    }

    // Scores in the log2 domain; the mask only where some (row, key) of the tile is invisible.
    const bool full =
        rows_full && kt + BN - 1 <= pos_min && (g.window == 0 || pos_max - kt < g.window);
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[n][e];
        if (g.softcap > 0.0f) {
          x = g.softcap * tanhf(x * g.scale / g.softcap) * kLog2e;
        } else {
          x *= scale_log2;
        }
        if (!full) {
          const int64_t j = kt + n * 8 + 2 * quad_col + (e & 1), p = pos[e / 2];
          if (j > p || (g.window > 0 && p - j >= g.window)) x = kNegInf;
        }
        s[n][e] = x;
      }
    }

    // Online softmax per row: the 4 lanes of a quad share a row.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = kNegInf;
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n)
        tile_max = fmaxf(tile_max, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[r], tile_max);
      // No visible key so far: every p is exp2(-inf) = 0 against a zero base, and nothing to rescale.
      const float base = m_new == kNegInf ? 0.0f : m_new;
      const float alpha = exp2f(m[r] - base);  // m[r] = -inf: 0, and o, l are still 0
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) {
        s[n][2 * r] = exp2f(s[n][2 * r] - base);
        s[n][2 * r + 1] = exp2f(s[n][2 * r + 1] - base);
        sum += s[n][2 * r] + s[n][2 * r + 1];
      }
      l[r] = l[r] * alpha + sum;
#pragma unroll
      for (int n = 0; n < kOutTiles; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
      m[r] = m_new;
    }

    // O += P V: the accumulators of score tiles 2kk and 2kk + 1 are the A fragment of keys [16kk, 16kk + 16).
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      const uint32_t a[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                             pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v_tile + (kk * 16 + lane % 8 + (lane / 8) % 2 * 8) * LD + dp * 16 + lane / 16 * 8);
        mma_bf16(o[2 * dp], a, b[0], b[1]);
        mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int64_t i = i0 + warp * 16 + quad_row + 8 * r;
    if (i >= g.t) continue;
    const float inv = 1.0f / sum;
    float* dst = g.out + (i * g.q_heads + head) * D + 2 * quad_col;
#pragma unroll
    for (int n = 0; n < kOutTiles; ++n) {
      dst[n * 8] = o[n][2 * r] * inv;
      dst[n * 8 + 1] = o[n][2 * r + 1] * inv;
    }
  }
}

// ---- decode ----

// part_out [t, q_heads, splits, head_dim] and part_stats [t, q_heads, splits, 2]; unused when splits == 1.
// L lanes own one key's 8-bf16 chunks; GT query heads of one KV head per block.
template <int L, int GT>
__global__ void __launch_bounds__(kThreads)
    attention_decode_bf16_kernel(Geometry g, int head_tiles, float* part_out, float* part_stats) {
  constexpr int kSub = 32 / L;          // keys side by side in a warp
  constexpr int kGroups = kWarps * kSub;  // independent softmax states per head in the block
  constexpr int KB = 2;                 // keys per lane group and step
  constexpr int DP = 8 * L;             // head dims the lane groups cover
  constexpr float kNegInf = -INFINITY;
  const int kv_head = blockIdx.x / head_tiles, tile = blockIdx.x % head_tiles;
  const int split = blockIdx.y, splits = gridDim.y;
  const int64_t row = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int sub = lane / L, u = lane % L, lane_group = warp * kSub + sub;
  const int64_t D = g.head_dim;
  const bool owns = 8 * u < D;  // D is a multiple of 8: a chunk is all in or all out
  const int64_t first_head = kv_head * g.group + int64_t{tile} * GT;
  const int heads = static_cast<int>(min(int64_t{GT}, g.group - int64_t{tile} * GT));

  const int64_t pos = g.q_pos0 + row;
  const int64_t lo = first_key(pos, g.window), n_keys = pos + 1 - lo;
  const int64_t key_begin = lo + n_keys * split / splits, key_end = lo + n_keys * (split + 1) / splits;

  float q[GT][8];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    const float* qh = g.q + (row * g.q_heads + first_head + min(h, heads - 1)) * D + 8 * u;
#pragma unroll
    for (int e = 0; e < 8; ++e)
      q[h][e] = owns ? qh[e] : 0.0f;
  }
  float m[GT], l[GT], acc[GT][8];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    m[h] = kNegInf;
    l[h] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e)
      acc[h][e] = 0.0f;
  }

  const int64_t row_stride = g.kv_heads * D;
  const bf16* k_base = g.k + kv_head * D + 8 * u;
  const bf16* v_base = g.v + kv_head * D + 8 * u;
  // The loop bounds are uniform across the warp (the shuffles below need every lane).
  for (int64_t j0 = key_begin + int64_t{warp} * kSub * KB; j0 < key_end; j0 += int64_t{kWarps} * kSub * KB) {
    uint4 kr[KB], vr[KB];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const int64_t j = j0 + sub * KB + b;
      const bool in = j < key_end && owns;
      kr[b] = in ? __ldg(reinterpret_cast<const uint4*>(k_base + j * row_stride)) : make_uint4(0, 0, 0, 0);
      vr[b] = in ? __ldg(reinterpret_cast<const uint4*>(v_base + j * row_stride)) : make_uint4(0, 0, 0, 0);
    }
    float score[KB][GT];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const uint32_t w[4] = {kr[b].x, kr[b].y, kr[b].z, kr[b].w};
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          dot = fmaf(q[h][2 * e], bf16_lo(w[e]), dot);
          dot = fmaf(q[h][2 * e + 1], bf16_hi(w[e]), dot);
        }
#pragma unroll
        for (int offset = L / 2; offset > 0; offset /= 2)
          dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        score[b][h] = j0 + sub * KB + b < key_end ? finish_score(dot, g) : kNegInf;
      }
    }
    float vf[KB][8];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const uint32_t w[4] = {vr[b].x, vr[b].y, vr[b].z, vr[b].w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        vf[b][2 * e] = bf16_lo(w[e]);
        vf[b][2 * e + 1] = bf16_hi(w[e]);
      }
    }
#pragma unroll
    for (int h = 0; h < GT; ++h) {
      float batch_max = kNegInf;
#pragma unroll
      for (int b = 0; b < KB; ++b)
        batch_max = fmaxf(batch_max, score[b][h]);
      const float m_new = fmaxf(m[h], batch_max);
      if (m_new == kNegInf) continue;  // this lane group has seen no key yet
      const float alpha = expf(m[h] - m_new);
      l[h] *= alpha;
#pragma unroll
      for (int e = 0; e < 8; ++e)
        acc[h][e] *= alpha;
#pragma unroll
      for (int b = 0; b < KB; ++b) {
        const float p = expf(score[b][h] - m_new);
        l[h] += p;
#pragma unroll
        for (int e = 0; e < 8; ++e)
          acc[h][e] = fmaf(p, vf[b][e], acc[h][e]);
      }
      m[h] = m_new;
    }
  }

  // Merge the lane groups' states of each head: out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w.
  __shared__ float group_acc[kGroups][GT][DP];
  __shared__ float group_m[kGroups][GT], group_l[kGroups][GT];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
#pragma unroll
    for (int e = 0; e < 8; ++e)
      group_acc[lane_group][h][8 * u + e] = acc[h][e];
    if (u == 0) {
      group_m[lane_group][h] = m[h];
      group_l[lane_group][h] = l[h];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < GT * DP; idx += kThreads) {
    const int h = idx / DP, d = idx % DP;
    if (h >= heads || d >= D) continue;
    float M = kNegInf;
#pragma unroll
    for (int w = 0; w < kGroups; ++w)
      M = fmaxf(M, group_m[w][h]);
    float sum = 0.0f, value = 0.0f;
    if (M != kNegInf) {  // else this split holds no key of the row
#pragma unroll
      for (int w = 0; w < kGroups; ++w) {
        const float weight = expf(group_m[w][h] - M);  // 0 for a group without keys (its acc, l are 0)
        sum += weight * group_l[w][h];
        value += weight * group_acc[w][h][d];
      }
    }
    const int64_t head = row * g.q_heads + first_head + h;
    if (splits == 1) {
      g.out[head * D + d] = value / sum;
    } else {
      const int64_t slot = head * splits + split;
      part_out[slot * D + d] = value;
      if (d == 0) {
        part_stats[2 * slot] = M;
        part_stats[2 * slot + 1] = sum;
      }
    }
  }
}

// out = sum_c exp(max_c - max) part_c / sum_c exp(max_c - max) sum_c over the splits that hold keys.
__global__ void __launch_bounds__(kThreads)
    attention_merge_bf16_kernel(const float* __restrict__ part_out, const float* __restrict__ part_stats,
                                float* __restrict__ out, int splits, int64_t head_dim) {
  const int64_t head = blockIdx.x;
  const float* stats = part_stats + head * splits * 2;
  float M = -INFINITY;
  for (int c = 0; c < splits; ++c) {
    if (stats[2 * c + 1] > 0.0f) M = fmaxf(M, stats[2 * c]);
  }
  float total = 0.0f;
  for (int c = 0; c < splits; ++c) {
    if (stats[2 * c + 1] > 0.0f) total += expf(stats[2 * c] - M) * stats[2 * c + 1];
  }
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float value = 0.0f;
    for (int c = 0; c < splits; ++c) {
      if (stats[2 * c + 1] > 0.0f)
        value += expf(stats[2 * c] - M) * part_out[(head * splits + c) * head_dim + d];
    }
    out[head * head_dim + d] = value / total;
  }
}

// ---- anything else ----

// One block per (query row, head); threads own dims; the output doubles as the accumulator. Slow, for
// shapes no supported model has (odd head_dim, > 256, unaligned caches), so that every valid call is answered.
__global__ void __launch_bounds__(kThreads) attention_generic_bf16_kernel(Geometry g) {
  __shared__ float partial[kWarps];
  const int64_t row = blockIdx.x / g.q_heads, head = blockIdx.x % g.q_heads, kv_head = head / g.group;
  const int64_t D = g.head_dim, kv_stride = g.kv_heads * D;
  const float* q = g.q + (row * g.q_heads + head) * D;
  float* o = g.out + (row * g.q_heads + head) * D;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t d = threadIdx.x; d < D; d += kThreads)
    o[d] = 0.0f;
  const int64_t pos = g.q_pos0 + row;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = first_key(pos, g.window); j <= pos; ++j) {
    const bf16* k = g.k + j * kv_stride + kv_head * D;
    float dot = 0.0f;
    for (int64_t d = threadIdx.x; d < D; d += kThreads)
      dot = fmaf(q[d], __bfloat162float(k[d]), dot);
    dot = warp_sum(dot);
    __syncthreads();  // the previous key's partial sums are read
    if (lane == 0) partial[warp] = dot;
    __syncthreads();
    dot = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      dot += partial[w];
    const float score = finish_score(dot, g), m_new = fmaxf(m, score);
    const float alpha = expf(m - m_new), p = expf(score - m_new);
    l = l * alpha + p;
    const bf16* v = g.v + j * kv_stride + kv_head * D;
    for (int64_t d = threadIdx.x; d < D; d += kThreads)
      o[d] = o[d] * alpha + p * __bfloat162float(v[d]);
    m = m_new;
  }
  for (int64_t d = threadIdx.x; d < D; d += kThreads)
    o[d] /= l;
}

// ---- launch ----

template <int D>
void launch_prefill(CudaBackend& backend, const Geometry& g) {
  constexpr size_t kSmem = prefill_smem_bytes<D>();
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in = cudaFuncSetAttribute(
      attention_prefill_bf16_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  (void)opted_in;  // a failure shows up as the launch error below
  const dim3 grid(static_cast<unsigned>((g.t + kPrefillRows - 1) / kPrefillRows),
                  static_cast<unsigned>(g.q_heads));
  attention_prefill_bf16_kernel<D><<<grid, kThreads, kSmem, backend.stream()>>>(g);
  backend.note_launch("attention_prefill_bf16_kernel");
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

template <int L, int GT>
void launch_decode(CudaBackend& backend, const Geometry& g, int head_tiles, int splits, float* part_out,
                   float* part_stats) {
  const dim3 grid(static_cast<unsigned>(g.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(g.t));
  attention_decode_bf16_kernel<L, GT>
      <<<grid, kThreads, 0, backend.stream()>>>(g, head_tiles, part_out, part_stats);
  backend.note_launch("attention_decode_bf16_kernel");
}

template <int L>
void launch_decode_tiles(CudaBackend& backend, const Geometry& g, int64_t gt, int splits, float* part_out,
                         float* part_stats) {
  const int head_tiles = static_cast<int>((g.group + gt - 1) / gt);
  switch (gt) {
    case 1:
      launch_decode<L, 1>(backend, g, head_tiles, splits, part_out, part_stats);
      break;
    case 2:
      launch_decode<L, 2>(backend, g, head_tiles, splits, part_out, part_stats);
      break;
    case 4:
      launch_decode<L, 4>(backend, g, head_tiles, splits, part_out, part_stats);
      break;
    default:
      launch_decode<L, 8>(backend, g, head_tiles, splits, part_out, part_stats);
      break;
  }
}

void launch_generic(CudaBackend& backend, const Geometry& g) {
  attention_generic_bf16_kernel<<<static_cast<unsigned>(g.t * g.q_heads), kThreads, 0, backend.stream()>>>(
      g);
  backend.note_launch("attention_generic_bf16_kernel");
}

void launch_decode_split(CudaBackend& backend, const Geometry& g) {
  // Splits: enough blocks for two waves over the SMs, each split at least kMinKeysPerSplit keys.
  const int64_t last_pos = g.q_pos0 + g.t - 1;
  const int64_t max_keys = last_pos + 1 - (g.window > 0 ? std::max<int64_t>(0, last_pos - g.window + 1) : 0);
  const int64_t gt = g.group >= 8 ? 8 : g.group >= 4 ? 4 : g.group >= 2 ? 2 : 1;
  const int64_t blocks = g.kv_heads * ((g.group + gt - 1) / gt) * g.t;
  const int64_t sms = std::max(1, backend.properties().multiProcessorCount);
  const int64_t wanted = (2 * sms + blocks - 1) / blocks;
  int64_t splits = std::clamp<int64_t>(std::min(wanted, max_keys / kMinKeysPerSplit), 1, kMaxSplits);
  float* part_out = nullptr;
  float* part_stats = nullptr;
  if (splits > 1) {
    const int64_t slots = g.t * g.q_heads * splits;
    part_out =
        static_cast<float*>(backend.scratch(static_cast<size_t>(slots * (g.head_dim + 2)) * sizeof(float)));
    if (part_out == nullptr) {
      splits = 1;  // no scratch: one split is slower, not wrong
    } else {
      part_stats = part_out + slots * g.head_dim;
    }
  }
  const int s = static_cast<int>(splits);
  if (g.head_dim <= 64) {
    launch_decode_tiles<8>(backend, g, gt, s, part_out, part_stats);
  } else if (g.head_dim <= 128) {
    launch_decode_tiles<16>(backend, g, gt, s, part_out, part_stats);
  } else {
    launch_decode_tiles<32>(backend, g, gt, s, part_out, part_stats);
  }
  if (splits > 1) {
    attention_merge_bf16_kernel<<<static_cast<unsigned>(g.t * g.q_heads), kThreads, 0, backend.stream()>>>(
        part_out, part_stats, g.out, s, g.head_dim);
    backend.note_launch("attention_merge_bf16_kernel");
  }
}

void attention_cuda_bf16(Backend& base, const AttentionArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  Geometry g{};
  g.q = a.q.as<const float>();
  g.k = a.k_cache.as<const bf16>();
  g.v = a.v_cache.as<const bf16>();
  g.out = a.out.as<float>();
  g.t = a.q.shape[0];
  g.q_heads = a.q.shape[1];
  g.head_dim = a.q.shape[2];
  g.kv_heads = a.k_cache.shape[1];
  if (g.t == 0 || g.q_heads == 0 || g.head_dim == 0) return;
  g.group = g.q_heads / g.kv_heads;
  g.q_pos0 = a.q_pos0;
  g.window = a.window;
  g.scale = a.scale;
  g.softcap = a.softcap;

  // 16-byte cache accesses need 16-byte aligned bases and rows (head_dim a multiple of 8).
  const bool aligned = reinterpret_cast<uintptr_t>(g.k) % 16 == 0 && reinterpret_cast<uintptr_t>(g.v) % 16 == 0;
  const bool vector_dims = g.head_dim % 8 == 0 && g.head_dim <= kMaxHeadDim;
  if (g.t > kDecodeMaxRows) {
    if (aligned && vector_dims && g.head_dim % 16 == 0) {
      with_head_dim16(g.head_dim, [&]<int D>() { launch_prefill<D>(backend, g); });
    } else {
      launch_generic(backend, g);
    }
    return;
  }
  if (aligned && vector_dims) {
    launch_decode_split(backend, g);
  } else {
    launch_generic(backend, g);
  }
}

const KernelRegistrar<AttentionArgs> kRegisterAttention(DeviceKind::kCuda, DType::kBF16, attention_cuda_bf16);

}  // namespace
}  // namespace autoglm

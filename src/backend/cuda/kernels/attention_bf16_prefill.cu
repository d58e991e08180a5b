// Tensor-core prefill of the bf16-cache attention (dispatch, decode, generic kernel: attention_bf16.cu).
//
// Layout: q, out [t, q_heads, head_dim] f32; caches [capacity, kv_heads, head_dim] bf16 (key j of KV head g
//   at (j * kv_heads + g) * head_dim). Query row i sits at position q_pos0 + i.
// Tiling (head_dim D a multiple of 16 up to 256, 16-byte aligned caches, t > 4 rows): flash attention on
//   tensor cores (FA2 layout). Grid (query tile of 64 rows, query head), tiles longest first; a
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
// Accumulation: f32 (mma accumulators, softmax state); Q and P enter the mma as bf16.
// Floor: 4 * t * n_keys * q_heads * D FLOPs, about half under the causal mask (Llama-3-8B at 2,048 tokens:
//   34 GFLOP per layer, ~0.1 ms at 300 TFLOP/s of bf16 mma.sync).
// Reference: the CPU f32 attention on the same bf16-rounded cache values, tests/cuda/test_attention_bf16.cpp.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_bf16.cuh"

namespace autoglm::attention_bf16 {
namespace {

constexpr int kPrefillRows = 16 * kWarps;  // query rows per block, 16 per warp (the mma's M)
constexpr float kLog2e = 1.4426950408889634f;

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
    const bool full = rows_full && kt + BN - 1 <= pos_min && (g.window == 0 || pos_max - kt < g.window);
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
        ldmatrix_x4_trans(b,
                          v_tile + (kk * 16 + lane % 8 + (lane / 8) % 2 * 8) * LD + dp * 16 + lane / 16 * 8);
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

template <int D>
void launch_prefill_d(CudaBackend& backend, const Geometry& g) {
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

}  // namespace

void launch_prefill(CudaBackend& backend, const Geometry& g) {
  with_head_dim16(g.head_dim, [&]<int D>() { launch_prefill_d<D>(backend, g); });
}

}  // namespace autoglm::attention_bf16

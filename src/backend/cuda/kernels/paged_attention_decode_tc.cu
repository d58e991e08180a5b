// Split-K flash-decoding over a paged bf16 KV cache on tensor cores, up to a few query rows per sequence
// (the semantics of ops/paged_attention.h; q and out f32).
//
// Why tensor cores for a memory-bound kernel: the CUDA-core decode kernel (paged_attention_decode16.cu)
//   spends ~3,000 instructions per 16 keys of a Llama-3-8B KV head (dot products with shuffle reductions,
//   the softmax of each key on every lane, one block-table lookup per key and lane), so at the occupancy a
//   decode batch gives it runs at 0.1-0.6 of the KV-read floor (tools/bench/paged_attention_cuda.cpp). Here
//   16 keys cost ~100 instructions: S = Q K^T and O += P V are mma.sync m16n8k16 instructions whose 16 rows
//   are the query heads of one KV head (GQA: up to 8 real rows, the rest zero), and one lookup serves 16
//   keys.
// Tiling: grid (KV head x tile of GT of its query heads, key split, query row), 4 warps per block, as the
//   other decode kernels, so the splits and the merge are shared. The block's key range is cut into tiles of
//   16 keys aligned to multiples of 16, so a tile lies in one cache block whenever block_size is a multiple
//   of 16 (then one block-table lookup per tile; otherwise one per key). Warp w takes tiles w, w + 4, ...
//   Each warp streams its tiles through its own ring of kStages K and V tiles in shared memory (cp.async,
//   16 bytes per copy, rows padded by 16 bytes so the 8 rows an ldmatrix reads fall in distinct bank quads);
//   kStages - 1 tiles are in flight while one is computed. Per tile: S [16 rows x 16 keys] = Q K^T over
//   head_dim / 16 k-steps (Q's A fragments stay in registers, K's B fragments by ldmatrix), scores scaled
//   (or soft-capped) into the log2 domain, keys outside the row's range or of an invalid block masked, the
//   online softmax per row (max and rescale; each lane keeps a partial sum), P rounded to bf16 and reused
//   in registers as the A fragment of O += P V (V's B fragments by ldmatrix.trans). At the end the 4 warps'
//   states meet in shared memory and are merged as in the other decode kernels.
// Accumulation: f32 (mma), 2^x by ex2.approx (fast_exp2) in the log2 domain; q and the probabilities are
//   rounded to bf16, as in the tensor-core prefill (attention_bf16_prefill.cu): within 1e-2 of the CPU's f32
//   result on bf16 caches.
// Floor: 2 * n_keys * kv_heads * head_dim * 2 bytes per sequence / bandwidth (K and V read once per KV head).
// Reference: the CPU paged kernel, tests/cuda/test_paged_attention.cpp (decode rows of bf16 caches).
#include "backend/cuda/kernels/paged_attention_decode_tc.cuh"

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/dependent_launch.cuh"

namespace autoglm::paged_decode_tc {
namespace {

using namespace cuda_attention;
using namespace cuda_paged;
using namespace cuda_kernels;
using attention_bf16::bf16;
using attention_bf16::cp_async_16;
using attention_bf16::cp_async_commit;
using attention_bf16::cp_async_wait;
using attention_bf16::fast_exp2;
using attention_bf16::kLog2e;
using attention_bf16::ldmatrix_x4;
using attention_bf16::ldmatrix_x4_trans;
using attention_bf16::mma_bf16;
using attention_bf16::pack_bf16;

// Blocks of 2 or 1 warps (6 or 12 per SM, the same warps per SM) were measured against 4: within 5% from
// batch 64 up (better at 64, worse at 256 x 1,024 with 1 warp) and 25-85% slower at batch 16, where 4 warps
// share a sequence's keys; serving 128 / 128 at 512 sequences did not change.
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kTileKeys = 16;
constexpr int kStages = 2;  // K and V tiles per warp in shared memory: kStages - 1 in flight

template <int D, int GT>
struct Shape {
  static constexpr int kRow = D + 8;                      // bf16 per shared row
  static constexpr int kTile = kTileKeys * kRow;          // bf16 per K or V tile
  static constexpr int kCopies = kTileKeys * D / 8 / 32;  // 16-byte copies per lane per tile, of K and of V
  static constexpr size_t kWarpRing = size_t{kStages} * 2 * kTile;
  static constexpr size_t kRingBytes = kWarps * kWarpRing * sizeof(bf16);
  static constexpr size_t kStateBytes = sizeof(float) * kWarps * GT * (D + 2);
  static constexpr size_t kSharedBytes = kRingBytes > kStateBytes ? kRingBytes : kStateBytes;
};

// Three blocks per SM where the ring allows it (head_dim <= 128: 70 KB each): registers capped at 168.
template <int D, int GT>
__global__ void __launch_bounds__(kThreads, D <= 128 ? 3 : 1)
    decode_tc_kernel(Paged<bf16> p, int head_tiles, float* part_out, float* part_stats) {
  using S = Shape<D, GT>;
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

  bf16* ring = reinterpret_cast<bf16*>(shared) + warp * S::kWarpRing;
  const int64_t row_stride = p.kv_heads * D;
  const bf16* k_head = p.k + kv_head * D;
  const bf16* v_head = p.v + kv_head * D;
  uint32_t block_ok = 0;  // bit stage: the tile in that stage has a valid cache block (one lookup per tile)
  // Copies the warp's tile i (keys of the range only; the rest of the tile is zero-filled).
  auto issue = [&](int i) {
    const int stage = i % kStages;
    bf16* k_dst = ring + stage * 2 * S::kTile;
    bf16* v_dst = k_dst + S::kTile;
    const int64_t j0 = tile0 + (int64_t{warp} + int64_t{i} * kWarps) * kTileKeys;
    const bool live = i < my_tiles;
    const int64_t base = live && one_block_per_tile ? cache_row(p, sv.s, j0) : -1;
    block_ok = (block_ok & ~(1u << stage)) | (static_cast<uint32_t>(base >= 0) << stage);
#pragma unroll
    for (int c = 0; c < S::kCopies; ++c) {
      const int linear = c * 32 + lane, key = linear / (D / 8), chunk = linear % (D / 8);
      const int64_t j = j0 + key;
      bool fill = live && j >= key_begin && j < key_end;
      int64_t r = -1;
      if (fill) r = one_block_per_tile ? (base >= 0 ? base + key : -1) : cache_row(p, sv.s, j);
      fill = fill && r >= 0;
      const int64_t offset = fill ? r * row_stride + chunk * 8 : 0;
      cp_async_16(k_dst + key * S::kRow + chunk * 8, k_head + offset, fill);
      cp_async_16(v_dst + key * S::kRow + chunk * 8, v_head + offset, fill);
    }
    cp_async_commit();  // an empty group past the last tile keeps the group count in step
  };
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i)
    issue(i);

  // Q's A fragments (rows g: head g of the tile; rows g + 8 and heads past the tile's are zero), rounded to
  // bf16 once.
  uint32_t qa[kSteps][4];
  {
    const bool real = g < heads;
    const float* q_row = p.q + (row * p.q_heads + first_head + (real ? g : 0)) * D + 2 * t;
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      const float2 lo = real ? *reinterpret_cast<const float2*>(q_row + ks * 16) : make_float2(0.0f, 0.0f);
      const float2 hi =
          real ? *reinterpret_cast<const float2*>(q_row + ks * 16 + 8) : make_float2(0.0f, 0.0f);
      qa[ks][0] = pack_bf16(lo.x, lo.y);
      qa[ks][1] = 0;
      qa[ks][2] = pack_bf16(hi.x, hi.y);
      qa[ks][3] = 0;
    }
  }
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m = kNegInf, l = 0.0f;  // row g's running max (log2 domain) and this lane's part of its sum
  const float scale_log2 = p.scale * kLog2e;

  for (int i = 0; i < my_tiles; ++i) {
    __syncwarp();  // every lane is done reading the stage the next copies overwrite
    issue(i + kStages - 1);
    cp_async_wait<kStages - 1>();  // this lane's copies of tile i have landed
    __syncwarp();                  // and every other lane's
    const int stage = i % kStages;
    const bf16* k_tile = ring + stage * 2 * S::kTile;
    const bf16* v_tile = k_tile + S::kTile;
    const int64_t j0 = tile0 + (int64_t{warp} + int64_t{i} * kWarps) * kTileKeys;

    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      uint32_t b[4];
      ldmatrix_x4(b, k_tile + (lane % 8 + lane / 16 * 8) * S::kRow + ks * 16 + (lane / 8) % 2 * 8);
      mma_bf16(s[0], qa[ks], b[0], b[1]);
      mma_bf16(s[1], qa[ks], b[2], b[3]);
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
    const uint32_t a[4] = {pack_bf16(s[0][0], s[0][1]), 0u, pack_bf16(s[1][0], s[1][1]), 0u};
#pragma unroll
    for (int dp = 0; dp < kSteps; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, v_tile + (lane % 8 + (lane / 8) % 2 * 8) * S::kRow + dp * 16 + lane / 16 * 8);
      mma_bf16(o[2 * dp], a, b[0], b[1]);
      mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
    }
  }
  cp_async_wait<0>();  // nothing may land in the ring once it holds the merge states
  __syncthreads();

  // The warps' states of each head, in the natural-log domain the merge works in: out = sum_w exp(m_w - M)
  // acc_w / sum_w exp(m_w - M) l_w.
  using StateAcc = float[kWarps][GT][D];
  using StateScalar = float[kWarps][GT];
  auto& state_acc = *reinterpret_cast<StateAcc*>(shared);
  auto& state_m = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc));
  auto& state_l = *reinterpret_cast<StateScalar*>(shared + sizeof(StateAcc) + sizeof(StateScalar));
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
  __syncthreads();
  store_merged_states<kWarps, GT, D>(state_acc, state_m, state_l, heads, D, row * p.q_heads + first_head,
                                     splits, split, p.out, part_out, part_stats, p.out16);
}

template <int D, int GT>
void launch_shape(CudaBackend& backend, const Paged<bf16>& p, int head_tiles, int splits, float* part_out,
                  float* part_stats) {
  constexpr size_t kSmem = Shape<D, GT>::kSharedBytes;
  if constexpr (kSmem > 48 * 1024) {
    // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
    static const cudaError_t opted_in = cudaFuncSetAttribute(
        decode_tc_kernel<D, GT>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
    (void)opted_in;  // a failure shows up as the launch error
  }
  const dim3 grid(static_cast<unsigned>(p.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(p.t));
  launch_dependent(backend, "paged_decode_tc_kernel", decode_tc_kernel<D, GT>, grid, dim3(kThreads), kSmem, p,
                   head_tiles, part_out, part_stats);
}

bool aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

}  // namespace

bool supported(const Paged<bf16>& p) {
  return (p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256) && aligned16(p.k) && aligned16(p.v) &&
         aligned16(p.q);
}

void launch(CudaBackend& backend, const Paged<bf16>& p, int splits, float* part_out, float* part_stats) {
  const int tiles = static_cast<int>(head_tiles(p.group));
  with_head_tile(p.group, [&]<int GT>() {
    if (p.head_dim == 64) {
      launch_shape<64, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else if (p.head_dim == 128) {
      launch_shape<128, GT>(backend, p, tiles, splits, part_out, part_stats);
    } else {
      launch_shape<256, GT>(backend, p, tiles, splits, part_out, part_stats);
    }
  });
}

}  // namespace autoglm::paged_decode_tc

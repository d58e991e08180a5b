// Tensor-core prefill of paged attention over bf16 or f8_e4m3 caches (ops/paged_attention.h; dispatch, decode
// and the SIMT kernels: paged_attention.cu). On a Hopper, bf16 caches at head_dim 128 go to the warpgroup-MMA
// kernel instead (paged_attention_prefill_wgmma.cu, launch_paged_prefill below).
//
// Layout: q, out [t, q_heads, head_dim] f32, the rows of all sequences packed (sequence s owns rows
//   [q_start[s], q_start[s + 1]), q_start absolute even when the caller offset the metadata pointers past
//   the decodes of a mixed batch); caches [n_blocks * block_size, kv_heads, head_dim] bf16: position j of
//   sequence s is cache row block_tables[s, j / block_size] * block_size + j % block_size. Query row i of s
//   sits at position seq_lens[s] - q_len_s + i.
// Tiling (head_dim D a multiple of 16 up to 256, 16-byte aligned caches): attention_bf16_prefill.cu's flash
//   attention on tensor cores, same tiles and math (attention_bf16_prefill.cuh): a block of 4 warps takes
//   a query tile of one sequence and one query head, 16 rows per warp (the mma's M) or, where the launch
//   still has enough blocks (prefill_row_blocks.h), 32 (two row blocks sharing each K / V fragment): tiles
//   of R = 64 or 128 rows; Q converted to bf16 in shared memory once; K and V tiles of BN keys (64 for D <=
//   128, else 32) through two shared-memory stages by cp.async, S = Q K^T and O += P V by mma.sync m16n8k16
//   (bf16 in, f32 accumulate), online softmax in the log2 domain in registers. Grid: ceil(t / R) + n_seqs
//   blocks along x (the most a packing of t rows into n_seqs sequences needs) times q_heads: only shapes,
//   never metadata values, so launches can be recorded in CUDA graphs. Warp 0 finds the block's (sequence,
//   tile) by a warp-wide prefix sum over q_start (32 sequences per step); surplus blocks exit. Within a
//   sequence the tiles run last first (the longest rows first). Paging: the first BN threads look up the
//   cache row of one key each, two tiles ahead, into a shared table of three tiles (as i32:
//   paged_prefill_supported bounds the pool), so the block-table latency hides behind two tiles of compute
//   and each key is looked up once per block (not once per 16-byte chunk); every thread then copies fixed
//   16-byte chunks of the K / V tile (chunk tid + 128 k) from the rows the table gives, so any block_size >=
//   1 works and a tile may span many blocks. Keys past the block's last visible one and keys whose block id
//   is outside the cache are zero-filled (nothing read: NaN in rows no table reaches never enters a product)
//   and the latter masked to -inf through their -1 row; the mask runs only on tiles crossing the diagonal,
//   the window edge, the end of the sequence's rows, or holding a missing block (a block-wide vote at the
//   stage barrier).
// f8_e4m3 caches: the tiles land as bytes in a two-stage ring of their own (16 keys' worth of elements per
//   copy), and once a tile is in, the block widens it into one bf16 K / V tile (exact: cvt.rn.f16x2.e4m3x2,
//   then f16 -> f32 -> bf16) that attend_tile reads as it reads bf16 caches; one more barrier per tile, the
//   conversion shared by the block's query rows.
// Rows: an invalid sequence (seq_view) is NaN, nothing read; a row that sees no key is 0 / 0 = NaN.
// Accumulation: f32 (mma accumulators, softmax state); Q and P enter the mma as bf16 (~1e-3 relative).
// Floor: 4 * q_len * n_keys * q_heads * D FLOPs per sequence, about half under the causal mask, at the
//   bf16 matrix rate (791 TFLOP/s for cuBLAS's wgmma GEMMs on an H100; mma.sync, used here, reaches a part
//   of it): a 2,048-token prompt of Llama-3-8B shapes, 34 GFLOP per layer, ~0.04 ms. Measured
//   (tools/bench/paged_attention_cuda.cpp --prefill, H100, 8B heads): 140-190 TFLOP/s on batches of long rows
//   and 259 at 1 x 8,192 with 128-row tiles, 110-130 with 64-row tiles (which one sequence of a few hundred
//   rows still takes); 110-130 everywhere when every thread looked up each of its chunks' rows (~600 of its
//   ~1,400 instructions per tile). Nsight Compute showed the 64-row kernel latency-bound (2 warps per
//   scheduler, fixed-latency and scoreboard stalls).
// Reference: the CPU paged kernel on the same cache values, tests/cuda/test_paged_attention.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_bf16_prefill.cuh"
#include "backend/cuda/kernels/attention_common.cuh"

namespace autoglm::attention_bf16 {
namespace {

using cuda_paged::cache_row;
using cuda_paged::Paged;
using cuda_paged::seq_view;
using cuda_paged::SeqView;
using fp8 = __nv_fp8_e4m3;

// Cache elements per 16-byte copy.
template <typename C>
constexpr int per_copy() {
  return 16 / static_cast<int>(sizeof(C));
}

// C elements per shared row of a landed f8_e4m3 tile: D plus 16 (bytes), so 8 consecutive rows start in
// distinct bank quads.
template <int D>
constexpr int raw_row() {
  return D + 16;
}

// Shared memory of the kernel over caches of C: the Q tile plus two stages of bf16 K and V tiles (bf16), or
// one stage of them plus two stages of landed bytes (f8_e4m3).
template <typename C, int D, int RB>
constexpr size_t paged_prefill_smem_bytes() {
  if constexpr (sizeof(C) == 2) {
    return prefill_smem_bytes<D, RB>();
  } else {
    return sizeof(bf16) * static_cast<size_t>(prefill_rows<RB>() + 2 * prefill_keys<D>()) * prefill_row<D>() +
           static_cast<size_t>(2 * 2 * prefill_keys<D>() * raw_row<D>());
  }
}

// Sixteen e4m3 values as sixteen bf16 (exact), two 16-byte words.
__device__ __forceinline__ void widen_e4m3x16(const uint4& x, uint4& lo, uint4& hi) {
  const uint32_t words[4] = {x.x, x.y, x.z, x.w};
  uint32_t out[8];
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    uint32_t f16x2[2];
    widen_e4m3x4(words[w], f16x2[0], f16x2[1]);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&f16x2[h]));
      out[2 * w + h] = pack_bf16(f.x, f.y);
    }
  }
  lo = make_uint4(out[0], out[1], out[2], out[3]);
  hi = make_uint4(out[4], out[5], out[6], out[7]);
}

template <typename C, int D, int RB>
__global__ void __launch_bounds__(kThreads) paged_attention_prefill_bf16_kernel(Paged<C> p) {
  constexpr bool kWidens = sizeof(C) == 1;  // f8_e4m3: tiles land as bytes and are widened to bf16
  constexpr int BN = prefill_keys<D>(), LD = prefill_row<D>();
  constexpr int kRows = prefill_rows<RB>();
  constexpr int kPerCopy = per_copy<C>(), kRawRow = kWidens ? raw_row<D>() : LD;
  constexpr int kChunks = D / kPerCopy;                             // 16-byte chunks per key row
  constexpr int kLoads = (BN * kChunks + kThreads - 1) / kThreads;  // 16-byte chunks per thread and tile
  constexpr int kStages16 = kWidens ? 1 : 2;                        // stages of bf16 K / V tiles
  extern __shared__ uint4 smem_raw[];
  __shared__ int64_t tile_seq, tile_row0;
  __shared__ bool tile_found;
  __shared__ int32_t row_s[3][BN];                // cache rows of the keys of three tiles (lookup below)
  bf16* q_s = reinterpret_cast<bf16*>(smem_raw);  // [kRows][LD]
  bf16* k_s = q_s + kRows * LD;                   // [kStages16][BN][LD]
  bf16* v_s = k_s + kStages16 * BN * LD;          // [kStages16][BN][LD]
  // Where the copies land: the bf16 tiles themselves, or (f8_e4m3) [2][BN][kRawRow] K then V bytes.
  C* k_land = kWidens ? reinterpret_cast<C*>(v_s + kStages16 * BN * LD) : reinterpret_cast<C*>(k_s);
  C* v_land = kWidens ? k_land + 2 * BN * kRawRow : reinterpret_cast<C*>(v_s);

  const int lane = threadIdx.x % 32;
  const int64_t head = blockIdx.y, kv_head = head / p.group;
  const int64_t q_stride = p.q_heads * D, kv_stride = p.kv_heads * D;

  if (threadIdx.x < 32) find_tile<kRows>(p, blockIdx.x, lane, 1, &tile_found, &tile_seq, &tile_row0);
  __syncthreads();
  if (!tile_found) return;  // uniform across the block
  const SeqView sv = seq_view(p, tile_seq);
  const int64_t i0 = tile_row0;  // first row of the tile in the sequence
  if (!sv.valid) {               // NaN rows, nothing read (uniform across the block)
    for (int64_t idx = threadIdx.x; idx < kRows * D; idx += kThreads) {
      const int64_t r = idx / D, row = sv.q_begin + i0 + r;
      if (i0 + r < sv.q_len && row >= 0 && row < p.t)
        cuda_attention::store_result(p.out, p.out16, row * q_stride + head * D + idx % D, NAN);
    }
    return;
  }
  const int64_t n_rows = min(int64_t{kRows}, sv.q_len - i0);  // >= 1
  const int64_t pos_min = sv.pos0 + i0, pos_max = pos_min + n_rows - 1;
  const int64_t lo = first_key(pos_min, p.window), hi = pos_max + 1;  // keys any row of the block sees
  const C* k_head = p.k + kv_head * D;
  const C* v_head = p.v + kv_head * D;

  // The cache row of every key of a tile, looked up once by BN threads two tiles ahead (-1: past hi, or a
  // block id outside the cache), in three slots: one being filled, one the next copies read, one the
  // current tile's mask reads. Returns whether one of this thread's keys below hi has no cache row.
  auto lookup = [&](int64_t kt, int slot) {
    static_assert(BN <= kThreads, "one key per looking-up thread");
    bool missing = false;
    const int jj = threadIdx.x;
    if (jj < BN) {
      const int64_t j = kt + jj;
      int32_t row = -1;
      if (j < hi) {
        const int64_t r = cache_row(p, sv.s, j);
        row = static_cast<int32_t>(r);  // < 2^31: paged_prefill_supported
        missing = r < 0;
      }
      row_s[slot][jj] = row;
    }
    return missing;
  };
  // The tile whose rows are in `slot` into stage `stage` (zero-filled where -1, the address clamped to the
  // head's row 0, nothing read). The element offsets of a row fit 64 bits from a 32 x 32-bit product.
  const auto kv_stride32 = static_cast<int32_t>(kv_stride);
  auto issue = [&](int stage, int slot) {
    constexpr int kKeyStep = kThreads / kChunks;  // keys a pass of the block's threads covers
    if constexpr (kThreads % kChunks == 0 && BN % kKeyStep == 0) {
      // A thread copies one chunk column c of the keys jj0, jj0 + kKeyStep, ...: the shared addresses are
      // immediate offsets from one base, and only the rows vary. (Not for rows of fewer chunks than
      // kThreads / BN, e.g. f8_e4m3 heads of 16, where one pass covers more keys than the tile has.)
      const int c = static_cast<int>(threadIdx.x) % kChunks, jj0 = static_cast<int>(threadIdx.x) / kChunks;
      C* k_dst = k_land + (stage * BN + jj0) * kRawRow + c * kPerCopy;
      C* v_dst = v_land + (stage * BN + jj0) * kRawRow + c * kPerCopy;
      const C* k_src = k_head + c * kPerCopy;
      const C* v_src = v_head + c * kPerCopy;
#pragma unroll
      for (int k = 0; k < BN / kKeyStep; ++k) {
        const int32_t row = row_s[slot][jj0 + k * kKeyStep];
        const bool in = row >= 0;
        const int64_t offset = int64_t{in ? row : 0} * kv_stride32;
        cp_async_16(k_dst + k * kKeyStep * kRawRow, k_src + offset, in);
        cp_async_16(v_dst + k * kKeyStep * kRawRow, v_src + offset, in);
      }
    } else {
#pragma unroll
      for (int k = 0; k < kLoads; ++k) {
        const int idx = static_cast<int>(threadIdx.x) + k * kThreads;
        if (idx < BN * kChunks) {
          const int jj = idx / kChunks, c = idx % kChunks;
          const int32_t row = row_s[slot][jj];
          const bool in = row >= 0;
          const int64_t offset = int64_t{in ? row : 0} * kv_stride32 + c * kPerCopy;
          cp_async_16(k_land + (stage * BN + jj) * kRawRow + c * kPerCopy, k_head + offset, in);
          cp_async_16(v_land + (stage * BN + jj) * kRawRow + c * kPerCopy, v_head + offset, in);
        }
      }
    }
    cp_async_commit();
  };

  const int n_tiles = static_cast<int>((hi - lo + BN - 1) / BN);
  bool missing = lookup(lo, 0);                                  // of the tile `it` of the loop below
  bool missing_next = n_tiles > 1 ? lookup(lo + BN, 1) : false;  // of tile it + 1
  __syncthreads();                                               // the rows of tiles 0 and 1 visible
  issue(0, 0);
  load_q_tile<D, RB>(q_s, p.q + (sv.q_begin + i0) * q_stride + head * D, n_rows, q_stride);

  // The positions of this thread's rows (-1: a row past the sequence's rows sees no key).
  int32_t pos[2 * RB];
  thread_row_positions<D, RB>(pos_min, n_rows, pos);
  const bool rows_full = n_rows == kRows;
  float o[RB][D / 8][4], m[RB][2], l[RB][2];  // O, running max (log2 domain) and partial sum per row
  clear_accumulators<D, RB>(o, m, l);

  int slot = 0, next_slot = 1, after_slot = 2;  // the row slots of tiles it, it + 1 and it + 2
  for (int it = 0; it < n_tiles; ++it) {
    const int64_t kt = lo + int64_t{it} * BN;
    const int stage = it & 1;
    cp_async_wait_all();
    // Tile `it` (and, on the first pass, Q) visible; stage ^ 1 and the slot of tile it - 1 no longer read;
    // does some key of tile `it` below hi lack a cache row?
    const bool tile_missing = __syncthreads_or(missing) != 0;
    bool missing_after = false;
    if (it + 1 < n_tiles) {
      issue(stage ^ 1, next_slot);
      if (it + 2 < n_tiles) missing_after = lookup(kt + 2 * BN, after_slot);
    }
    missing = missing_next;
    missing_next = missing_after;
    int tile16 = stage;  // the stage of bf16 tiles attend_tile reads
    if constexpr (kWidens) {
      // Every thread is past the barrier above, so done reading the bf16 tile of the previous key tile.
      for (int idx = threadIdx.x; idx < 2 * BN * kChunks; idx += kThreads) {
        const bool is_v = idx >= BN * kChunks;
        const int jj = (idx % (BN * kChunks)) / kChunks, c = idx % kChunks;
        const uint4 x = *reinterpret_cast<const uint4*>((is_v ? v_land : k_land) +
                                                        (stage * BN + jj) * kRawRow + c * kPerCopy);
        uint4* dst = reinterpret_cast<uint4*>((is_v ? v_s : k_s) + jj * LD + c * kPerCopy);
        widen_e4m3x16(x, dst[0], dst[1]);
      }
      __syncthreads();
      tile16 = 0;
    }
    const bool full =
        rows_full && !tile_missing && kt + BN - 1 <= pos_min && (p.window == 0 || pos_max - kt < p.window);
    const int32_t* tile_rows = row_s[slot];
    attend_tile<D, RB>(
        q_s, k_s + tile16 * BN * LD, v_s + tile16 * BN * LD, full, p.scale, p.softcap,
        [&](int jj, int r) {
          const int32_t j = static_cast<int32_t>(kt) + jj, q_pos = pos[r];
          return tile_rows[jj] < 0 || j > q_pos || (p.window > 0 && q_pos - j >= p.window);
        },
        o, m, l);
    const int done = slot;
    slot = next_slot;
    next_slot = after_slot;
    after_slot = done;
  }
  const int64_t first = (sv.q_begin + i0) * q_stride + head * D;  // row 0 of the tile at this head
  if (p.out16 != nullptr) {
    store_rows<D, RB>(o, l, nullptr, n_rows, q_stride, p.out16 + first);
  } else {
    store_rows<D, RB>(o, l, p.out + first, n_rows, q_stride);
  }
}

template <typename C, int D, int RB>
void launch_rb(CudaBackend& backend, const Paged<C>& p, int64_t rows) {
  constexpr size_t kSmem = paged_prefill_smem_bytes<C, D, RB>();
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(paged_attention_prefill_bf16_kernel<C, D, RB>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  (void)opted_in;  // a failure shows up as the launch error below
  constexpr int kRows = prefill_rows<RB>();
  // Each sequence's rows in tiles of kRows, its last tile partial: at most this many tiles (find_tile ends
  // the blocks past them).
  const int64_t tiles = (rows + kRows - 1) / kRows + p.n_seqs;
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.q_heads));
  paged_attention_prefill_bf16_kernel<C, D, RB><<<grid, kThreads, kSmem, backend.stream()>>>(p);
  backend.note_launch("paged_attention_prefill_bf16_kernel");
}

template <typename C, int D>
void launch_d(CudaBackend& backend, const Paged<C>& p, int64_t rows) {
  with_row_blocks<D>(rows, p.q_heads, backend.properties().multiProcessorCount,
                     [&]<int RB>() { launch_rb<C, D, RB>(backend, p, rows); });
}

template <typename C>
bool supported_for(const Paged<C>& p) {
  // Cache rows are kept as i32 in shared memory.
  constexpr int64_t kMaxRows = int64_t{1} << 31;
  return p.head_dim % 16 == 0 && p.head_dim >= 16 && p.head_dim <= 256 && p.block_size > 0 &&
         p.n_blocks <= kMaxRows / p.block_size && p.kv_heads * p.head_dim < kMaxRows &&
         reinterpret_cast<uintptr_t>(p.k) % 16 == 0 && reinterpret_cast<uintptr_t>(p.v) % 16 == 0;
}

}  // namespace

bool paged_prefill_supported(const Paged<bf16>& p) {
  return supported_for(p);
}
bool paged_prefill_supported(const Paged<fp8>& p) {
  return supported_for(p);
}

void launch_paged_prefill(CudaBackend& backend, const Paged<bf16>& p, int64_t rows) {
  if (wgmma_prefill_supported(backend, p)) {
    launch_wgmma_prefill(backend, p, rows);
    return;
  }
  with_head_dim16(p.head_dim, [&]<int D>() { launch_d<bf16, D>(backend, p, rows); });
}
void launch_paged_prefill(CudaBackend& backend, const Paged<fp8>& p, int64_t rows) {
  with_head_dim16(p.head_dim, [&]<int D>() { launch_d<fp8, D>(backend, p, rows); });
}

}  // namespace autoglm::attention_bf16

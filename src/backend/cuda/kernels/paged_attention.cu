// CUDA causal grouped-query attention over a paged KV cache (the semantics of ops/paged_attention.h); f32,
// bf16, f16 and f8_e4m3 caches (one template: cache elements are widened to f32 as they are loaded), q f32,
// out f32 (or bf16 where the op allows it).
//
// Layout: q, out [t, q_heads, head_dim], the rows of all sequences packed (sequence s owns rows
//   [q_start[s], q_start[s + 1])); caches [n_blocks * block_size, kv_heads, head_dim]: position j of sequence
//   s is cache row block_tables[s, j / block_size] * block_size + j % block_size. Query row i of s sits at
//   position seq_lens[s] - q_len_s + i. All metadata is read on the device: no launch parameter, grid or
//   scratch size depends on its values, only on shapes (t, n_seqs, the table width) and the max_q_len hint,
//   so every launch here may be recorded in a CUDA graph and replayed after the metadata was rewritten.
// Decode of bf16 and f8_e4m3 caches with head_dim 64, 128 or 256: tensor cores, paged_attention_decode_tc.cu;
//   of f16 caches with those head_dims: paged_attention_decode16.cu (16-byte loads); both with the splits and
//   merge below.
// Decode otherwise (max_q_len <= kDecodeMaxRows, head_dim <= 256): split-K flash-decoding as attention.cu's
// decode:
//   grid (KV head x tile of up to GT of its query heads, key split, packed query row); the block finds its
//   sequence by a binary search of q_start. A block of 4 warps handles every query head of its tile, so
//   each K and V row is read once per KV head and query row (GQA groups <= 8 per block; larger ones are
//   tiled). Lanes own dims lane, lane + 32, ... (S = ceil(head_dim / 32) <= 8 registers); warps take KB
//   keys at a time, look their rows up in the block table, score them for every head (warp all-reduce) and
//   keep an online softmax per head, merged over the warps in shared memory. Splits cut the table width
//   (max_blocks_per_seq * block_size positions) into fixed ranges [c * split_keys, (c + 1) * split_keys),
//   clipped to the row's visible keys (a split with none writes an empty partial): their number follows
//   the shapes and the SM count (two waves, >= kMinKeysPerSplit keys each), never the current lengths.
//   With several splits, partials [t, q_heads, splits, head_dim] and (max, sum) go to backend scratch and
//   paged_attention_merge_kernel rescales them by exp(max_c - max).
// Prefill, bf16 and f8_e4m3 caches with head_dim a multiple of 16 up to 256 and 16-byte aligned caches:
//   tensor cores, paged_attention_bf16_prefill.cu (64 or 128 query rows per block, mma.sync, Q and P
//   rounded to bf16); on a Hopper, bf16 caches at head_dim 128 take paged_attention_prefill_wgmma.cu (wgmma,
//   the query heads of a KV head packed as rows; same products and masks).
// Prefill otherwise (max_q_len > kDecodeMaxRows, head_dim <= 256): tiled flash attention in f32 SIMT as
//   attention.cu's prefill: a block (4 warps) takes 16 query rows of one sequence and one head (4 rows per
//   warp); the grid has ceil(t / 16) + n_seqs tiles along x (the most a packing of t rows into n_seqs
//   sequences needs), a block finding its (sequence, tile) by scanning q_start, surplus blocks exiting. Key
//   tiles of 32 positions: their cache rows are looked up once per tile, then K and V staged in shared memory
//   (f32, K rows padded against bank conflicts); lane j scores key j against the warp's rows; online softmax
//   per row; P.V by broadcasting each probability with a shuffle while lanes own output dims.
// head_dim > 256: paged_attention_generic_kernel, one block per (query row, head); correct and slow.
// Metadata out of range (lengths past the table, a row outside its sequence, a block id outside the cache):
//   the keys it would reach are skipped, never read; a row left without keys, or of an invalid sequence, is
//   NaN.
// Accumulation: f32 throughout; expf and tanhf (full precision), so f32 caches track the CPU to ~1e-6.
// Floor: decode reads 2 * n_keys * kv_heads * head_dim * dtype bytes (K and V) per sequence / bandwidth;
//   prefill 4 * q_len * n_keys * q_heads * head_dim FLOPs per sequence (about half under the causal mask).
// Reference: the CPU paged kernel (kernels/paged_attention.cpp) on the same cache values,
//   tests/cuda/test_paged_attention.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_bf16_prefill.cuh"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_simt.cuh"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/paged_attention_decode16.cuh"
#include "backend/cuda/kernels/paged_attention_decode_tc.cuh"
#include "ops/kernel_table.h"
#include "ops/paged_attention.h"

namespace autoglm {
namespace {

using namespace cuda_attention;
using namespace cuda_paged;  // Paged, SeqView, seq_view, cache_row

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kMaxLaneDims = 8;       // head_dim <= 256 in registers
constexpr int64_t kMaxGridZ = 65535;  // decode rows per launch; more take the prefill kernel
static_assert(kWarps == kPrefillWarps, "the prefill kernel launches with kThreads");

// ---- decode ----

template <int S>
constexpr int keys_per_batch() {
  return S <= 2 ? 8 : (S <= 4 ? 4 : 2);
}

// part_out [t, q_heads, splits, head_dim] and part_stats [t, q_heads, splits, 2]; unused when splits == 1.
template <typename T, int S, int GT>
__global__ void __launch_bounds__(kThreads)
    paged_attention_decode_kernel(Paged<T> p, int head_tiles, float* part_out, float* part_stats) {
  constexpr int KB = keys_per_batch<S>();
  constexpr float kNegInf = -INFINITY;
  const DecodeBlock blk = decode_block<GT>(p, head_tiles);
  const int kv_head = blk.kv_head, split = blk.split, splits = blk.splits, heads = blk.heads;
  const int64_t row = blk.row, first_head = blk.first_head, key_begin = blk.key_begin, key_end = blk.key_end;
  const SeqView& sv = blk.sv;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t D = p.head_dim;

  float q[GT][S];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    const float* qh = p.q + (row * p.q_heads + first_head + min(h, heads - 1)) * D;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int64_t d = lane + 32 * s;
      q[h][s] = d < D ? qh[d] : 0.0f;
    }
  }
  float m[GT], l[GT], acc[GT][S];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
    m[h] = kNegInf;
    l[h] = 0.0f;
#pragma unroll
    for (int s = 0; s < S; ++s)
      acc[h][s] = 0.0f;
  }

  const int64_t row_stride = p.kv_heads * D;
  const T* k_base = p.k + kv_head * D;
  const T* v_base = p.v + kv_head * D;
  for (int64_t j0 = key_begin + int64_t{warp} * KB; j0 < key_end; j0 += int64_t{kWarps} * KB) {
    float kr[KB][S], vr[KB][S];
    bool seen[KB];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
      const int64_t j = j0 + b;
      const int64_t r = j < key_end ? cache_row(p, sv.s, j) : -1;
      seen[b] = r >= 0;
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const int64_t d = lane + 32 * s;
        const bool in = seen[b] && d < D;
        kr[b][s] = in ? widen(k_base[r * row_stride + d]) : 0.0f;
        vr[b][s] = in ? widen(v_base[r * row_stride + d]) : 0.0f;
      }
    }
    float score[KB][GT];
#pragma unroll
    for (int b = 0; b < KB; ++b) {
#pragma unroll
      for (int h = 0; h < GT; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int s = 0; s < S; ++s)
          dot = fmaf(q[h][s], kr[b][s], dot);
        dot = warp_sum(dot);
        score[b][h] = seen[b] ? capped_score(dot, p.scale, p.softcap) : kNegInf;
      }
    }
    online_softmax_step(score, vr, m, l, acc);
  }

  // Merge the 4 warps' states of each head: out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w.
  __shared__ float warp_acc[kWarps][GT][32 * S];
  __shared__ float warp_m[kWarps][GT], warp_l[kWarps][GT];
#pragma unroll
  for (int h = 0; h < GT; ++h) {
#pragma unroll
    for (int s = 0; s < S; ++s)
      warp_acc[warp][h][lane + 32 * s] = acc[h][s];
    if (lane == 0) {
      warp_m[warp][h] = m[h];
      warp_l[warp][h] = l[h];
    }
  }
  __syncthreads();
  store_merged_states<kWarps, GT, 32 * S>(warp_acc, warp_m, warp_l, heads, D, row * p.q_heads + first_head,
                                          splits, split, p.out, part_out, part_stats, p.out16);
}

// One block per (row, head) of the packed output; a head whose splits all came back empty is NaN.
__global__ void __launch_bounds__(kThreads)
    paged_attention_merge_kernel(const float* __restrict__ part_out, const float* __restrict__ part_stats,
                                 float* __restrict__ out, int splits, int64_t head_dim,
                                 __nv_bfloat16* out16) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  merge_splits(part_out, part_stats, out, splits, head_dim, blockIdx.x, out16);
}

// ---- prefill ----

// The (sequence, tile) of block `tile_index`: tiles of kPrefillRows query rows, sequence after sequence.
// Returns false for a surplus block.
template <typename T>
__device__ bool find_tile(const Paged<T>& p, int64_t tile_index, int64_t* seq, int64_t* tile) {
  int64_t first = 0;
  for (int64_t s = 0; s < p.n_seqs; ++s) {
    const int64_t q_len = int64_t{p.q_start[s + 1]} - p.q_start[s];
    const int64_t n = q_len > 0 ? (q_len + kPrefillRows - 1) / kPrefillRows : 0;
    if (tile_index < first + n) {
      *seq = s;
      *tile = tile_index - first;
      return true;
    }
    first += n;
  }
  return false;
}

template <typename T, int S>
__global__ void __launch_bounds__(kThreads) paged_attention_prefill_kernel(Paged<T> p) {
  extern __shared__ float4 smem4[];
  __shared__ int64_t tile_seq, tile_index;
  __shared__ bool tile_found;
  __shared__ int64_t key_rows[kPrefillKeys];
  const int64_t D = p.head_dim, DP = padded_dim(D);
  float* q_s = reinterpret_cast<float*>(smem4);  // [kPrefillRows][DP]
  float* k_s = q_s + kPrefillRows * DP;          // [kPrefillKeys][DP]
  float* v_s = k_s + kPrefillKeys * DP;          // [kPrefillKeys][32 S]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t head = blockIdx.y, kv_head = head / p.group;

  if (threadIdx.x == 0) tile_found = find_tile(p, blockIdx.x, &tile_seq, &tile_index);
  __syncthreads();
  if (!tile_found) return;  // uniform across the block
  const SeqView sv = seq_view(p, tile_seq);
  const int64_t i0 = tile_index * kPrefillRows;  // first row in the sequence
  const int64_t n_rows = sv.valid ? min(int64_t{kPrefillRows}, sv.q_len - i0) : 0;  // rows this block owns
  const int64_t q_stride = p.q_heads * D, kv_stride = p.kv_heads * D;
  if (!sv.valid) {  // NaN rows, nothing read (uniform across the block)
    for (int64_t idx = threadIdx.x; idx < kPrefillRows * D; idx += kThreads) {
      const int64_t r = idx / D, row = sv.q_begin + i0 + r;
      if (i0 + r < sv.q_len && row >= 0 && row < p.t)
        store_result(p.out, p.out16, row * q_stride + head * D + idx % D, NAN);
    }
    return;
  }
  const int64_t lo = first_key(sv.pos0 + i0, p.window), hi = sv.pos0 + i0 + n_rows;

  for (int64_t idx = threadIdx.x; idx < kPrefillRows * DP; idx += kThreads) {
    const int64_t r = idx / DP, d = idx % DP;
    q_s[idx] = r < n_rows && d < D ? p.q[(sv.q_begin + i0 + r) * q_stride + head * D + d] : 0.0f;
  }

  int64_t pos[kPrefillRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
    const int64_t i = warp * kPrefillRowsPerWarp + r;
    pos[r] = i < n_rows ? sv.pos0 + i0 + i : -1;  // -1: a row past the sequence sees no key
  }
  PrefillWarpRows<kPrefillRowsPerWarp, S> rows;
  rows.reset();

  for (int64_t kt = lo; kt < hi; kt += kPrefillKeys) {
    const int n_tile = static_cast<int>(min(int64_t{kPrefillKeys}, hi - kt));
    __syncthreads();  // the previous tile is consumed
    if (threadIdx.x < kPrefillKeys)
      key_rows[threadIdx.x] = threadIdx.x < n_tile ? cache_row(p, sv.s, kt + threadIdx.x) : -1;
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < kPrefillKeys * DP; idx += kThreads) {
      const int64_t jj = idx / DP, d = idx % DP, r = key_rows[jj];
      k_s[idx] = r >= 0 && d < D ? widen(p.k[r * kv_stride + kv_head * D + d]) : 0.0f;
    }
    for (int64_t idx = threadIdx.x; idx < kPrefillKeys * 32 * S; idx += kThreads) {
      const int64_t jj = idx / (32 * S), d = idx % (32 * S), r = key_rows[jj];
      v_s[idx] = r >= 0 && d < D ? widen(p.v[r * kv_stride + kv_head * D + d]) : 0.0f;
    }
    __syncthreads();

    // Lane `lane` scores key kt + lane against the warp's rows.
    float score[kPrefillRowsPerWarp];
    rows.dots(q_s + warp * kPrefillRowsPerWarp * DP, k_s + lane * DP, DP, score);
    const int64_t j = kt + lane;
    const bool present = lane < n_tile && key_rows[lane] >= 0;
#pragma unroll
    for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
      const bool visible = present && j <= pos[r] && (p.window == 0 || pos[r] - j < p.window);
      score[r] = visible ? capped_score(score[r], p.scale, p.softcap) : -INFINITY;
    }
    rows.add_tile(score, v_s, n_tile, lane);
  }

#pragma unroll
  for (int r = 0; r < kPrefillRowsPerWarp; ++r) {
    const int64_t i = warp * kPrefillRowsPerWarp + r;
    if (i < n_rows)
      rows.store(r, p.out + (sv.q_begin + i0 + i) * q_stride + head * D, D, lane);  // warp-uniform
  }
}

// ---- head_dim > 256 ----

// One block per (packed row, head); threads own dims; the output doubles as the accumulator. Slow, for
// head sizes no supported model has, so that every valid call is answered.
template <typename T>
__global__ void __launch_bounds__(kThreads) paged_attention_generic_kernel(Paged<T> p) {
  const int64_t row = blockIdx.x / p.q_heads, head = blockIdx.x % p.q_heads;
  const int64_t D = p.head_dim, offset = (row * p.q_heads + head) * D;
  const SeqView sv = seq_view(p, seq_of_row(p, row));
  const int64_t i = row - sv.q_begin;
  const bool valid = sv.valid && i >= 0 && i < sv.q_len;
  const int64_t pos = valid ? sv.pos0 + i : -1;  // -1: no key, so 0 / 0 = NaN
  attend_row_by_block<kWarps>(p.q + offset, p.out + offset, p.k, p.v, p.kv_heads * D, head / p.group * D, D,
                              first_key(pos, p.window), pos, p.scale, p.softcap,
                              [&](int64_t j) { return cache_row(p, sv.s, j); });  // uniform across the block
}

// ---- launch ----

template <typename T, int S, int GT>
void launch_decode(CudaBackend& backend, const Paged<T>& p, int head_tiles, int splits, float* part_out,
                   float* part_stats) {
  const dim3 grid(static_cast<unsigned>(p.kv_heads * head_tiles), static_cast<unsigned>(splits),
                  static_cast<unsigned>(p.t));
  paged_attention_decode_kernel<T, S, GT>
      <<<grid, kThreads, 0, backend.stream()>>>(p, head_tiles, part_out, part_stats);
  backend.note_launch("paged_attention_decode_kernel");
}

template <typename T, int S>
void launch_decode_tiles(CudaBackend& backend, const Paged<T>& p, int splits, float* part_out,
                         float* part_stats) {
  const int tiles = static_cast<int>(head_tiles(p.group));
  with_head_tile(p.group,
                 [&]<int GT>() { launch_decode<T, S, GT>(backend, p, tiles, splits, part_out, part_stats); });
}

// Splits from the shapes and the SM count only (two waves of blocks, each split >= kMinKeysPerSplit of the
// table width), so the launch replays for any metadata.
template <typename T>
void decode(CudaBackend& backend, Paged<T> p) {
  const int64_t width = p.max_blocks * p.block_size;
  const DecodeSplits plan =
      plan_decode_splits(backend, p.kv_heads * head_tiles(p.group) * p.t, width, p.t * p.q_heads, p.head_dim);
  const int64_t splits = plan.splits;
  float* part_out = plan.part_out;
  float* part_stats = plan.part_stats;
  p.split_keys = std::max<int64_t>(1, (width + splits - 1) / splits);
  bool vectorized = false;
  if constexpr (std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __nv_fp8_e4m3>) {
    if (paged_decode_tc::supported(p)) {
      paged_decode_tc::launch(backend, p, static_cast<int>(splits), part_out, part_stats);
      vectorized = true;
    }
  }
  if constexpr (std::is_same_v<T, __half>) {
    if (paged_decode16::supported(p)) {
      paged_decode16::launch(backend, p, static_cast<int>(splits), part_out, part_stats);
      vectorized = true;
    }
  }
  if (!vectorized) {
    with_lane_dims(p.head_dim, [&]<int S>() {
      launch_decode_tiles<T, S>(backend, p, static_cast<int>(splits), part_out, part_stats);
    });
  }
  if (splits > 1) {
    cuda_kernels::launch_dependent(backend, "paged_attention_merge_kernel", paged_attention_merge_kernel,
                                   dim3(static_cast<unsigned>(p.t * p.q_heads)), dim3(kThreads), 0, part_out,
                                   part_stats, p.out, static_cast<int>(splits), p.head_dim, p.out16);
  }
}

template <typename T, int S>
void launch_prefill(CudaBackend& backend, const Paged<T>& p) {
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(paged_attention_prefill_kernel<T, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(prefill_smem_bytes(32 * S, S)));
  (void)opted_in;  // a failure shows up as the launch error below
  const int64_t tiles = (p.t + kPrefillRows - 1) / kPrefillRows + p.n_seqs;
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.q_heads));
  paged_attention_prefill_kernel<T, S>
      <<<grid, kThreads, prefill_smem_bytes(p.head_dim, S), backend.stream()>>>(p);
  backend.note_launch("paged_attention_prefill_kernel");
}

template <typename T>
void paged_attention_cuda(Backend& base, const PagedAttentionArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  Paged<T> p{};
  p.q = a.q.as<const float>();
  p.k = static_cast<const T*>(a.k_cache.data);
  p.v = static_cast<const T*>(a.v_cache.data);
  if (a.out.dtype == DType::kBF16) {
    p.out16 = static_cast<__nv_bfloat16*>(a.out.data);  // ops/paged_attention.h: bf16 / f8_e4m3 caches only
  } else {
    p.out = a.out.as<float>();
  }
  p.block_tables = a.block_tables.as<const int32_t>();
  p.q_start = a.q_start.as<const int32_t>();
  p.seq_lens = a.seq_lens.as<const int32_t>();
  p.t = a.q.shape[0];
  p.n_seqs = a.block_tables.shape[0];
  p.max_blocks = a.block_tables.shape[1];
  p.block_size = a.block_size;
  p.block_shift = -1;
  for (int shift = 0; shift < 31; ++shift) {
    if (int64_t{1} << shift == p.block_size) p.block_shift = shift;
  }
  p.n_blocks = a.k_cache.shape[0] / a.block_size;
  p.q_heads = a.q.shape[1];
  p.head_dim = a.q.shape[2];
  p.kv_heads = a.k_cache.shape[1];
  if (p.t == 0 || p.q_heads == 0 || p.head_dim == 0 || p.n_seqs == 0) return;
  p.group = p.q_heads / p.kv_heads;
  p.window = a.window;
  p.scale = a.scale;
  p.softcap = a.softcap;

  if (p.head_dim > 32 * kMaxLaneDims) {
    paged_attention_generic_kernel<T>
        <<<static_cast<unsigned>(p.t * p.q_heads), kThreads, 0, backend.stream()>>>(p);
    backend.note_launch("paged_attention_generic_kernel");
  } else if (a.max_q_len <= kDecodeMaxRows && p.t <= kMaxGridZ) {
    decode(backend, p);
  } else {
    // A mixed batch: its leading one-row sequences (the decodes) through the decode kernels, the rest through
    // the prefill kernel, which reads them through offset metadata (q_start stays absolute, so rows do too).
    const int64_t n_decode = a.n_decode_seqs;
    const bool split = n_decode > 0 && n_decode < p.n_seqs && n_decode <= kMaxGridZ;
    Paged<T> d = p;
    d.t = n_decode;
    d.n_seqs = n_decode;
    if (split) {
      p.q_start += n_decode;
      p.seq_lens += n_decode;
      p.block_tables += n_decode * p.max_blocks;
      p.n_seqs -= n_decode;
    }
    if constexpr (std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __nv_fp8_e4m3>) {
      if (attention_bf16::paged_prefill_supported(p)) {
        // The tensor-core prefill is latency-bound (few long blocks at its end) and the decodes are bound by
        // their KV reads: the prefill goes first on a stream of higher priority, the decodes fill the SMs
        // it leaves (both read q and the caches and write their own rows of out).
        if (!split) {
          attention_bf16::launch_paged_prefill(backend, p, p.t);
          return;
        }
        // Its rows: those after the decodes' (one each).
        backend.launch_beside([&] { attention_bf16::launch_paged_prefill(backend, p, p.t - n_decode); });
        decode(backend, d);
        backend.rejoin();
        return;
      }
    }
    if (split) decode(backend, d);
    // f32 rows only: the op gives bf16 rows only where the tensor-core prefill above takes them.
    with_lane_dims(p.head_dim, [&]<int S>() { launch_prefill<T, S>(backend, p); });
  }
}

const KernelRegistrar<PagedAttentionArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32,
                                                       paged_attention_cuda<float>);
const KernelRegistrar<PagedAttentionArgs> kRegisterBF16(DeviceKind::kCuda, DType::kBF16,
                                                        paged_attention_cuda<__nv_bfloat16>);
const KernelRegistrar<PagedAttentionArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16,
                                                       paged_attention_cuda<__half>);
const KernelRegistrar<PagedAttentionArgs> kRegisterF8(DeviceKind::kCuda, DType::kF8E4M3,
                                                      paged_attention_cuda<__nv_fp8_e4m3>);

}  // namespace
}  // namespace autoglm

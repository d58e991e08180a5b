// The paged prefill attention over bf16 caches on Hopper's warpgroup MMA (sm_90a; ops/paged_attention.h,
// dispatched by paged_attention.cu where wgmma_prefill_supported() holds, else the mma.sync kernel of
// paged_attention_bf16_prefill.cu, whose layout, masks and NaN rules this kernel keeps).
//
// Why: the mma.sync kernel holds 40-150 TFLOP/s at serving sizes (16 x 8 x 16 products fed by ldmatrix, one
//   query head per block, so every K / V tile is copied once per query head of its group). Here:
// Rows: a block takes 64 rows per warpgroup (two or three warpgroups: wgmma_prefill_warpgroups in
//   prefill_row_blocks.h) of one sequence and one KV head, the GQA group's query heads packed as rows
//   (packed row r of a sequence: query row r / group, query head kv_head * group + r % group), so each K / V
//   tile serves the whole group.
// Tiles: K and V tiles of 64 keys land by cp.async (16 bytes per copy, the cache row of every key looked up
//   once, three tiles ahead, by 64 threads, while the tensor cores work: any block size works) in the
//   128-byte swizzle of wgmma.cuh, three stages deep; Q is converted to bf16 into the same layout once. S =
//   Q K^T is 8 wgmma m64n64k16 per warpgroup (both operands from shared memory); the online softmax runs in
//   the log2 domain on the accumulators; P, rounded to bf16, stays in registers as the A operand of O += P V
//   (4 wgmma m64n128k16, V read MN-major from its key-major tile). One barrier per tile: the warpgroups share
//   the stages. (Issuing the next tile's S before this tile's P V, so that the softmax runs while the
//   latter is on the tensor cores, measured no faster on an H100 and with four stages slower.)
// Masks (causal, window, keys whose block id is outside the cache, rows past the sequence) only on tiles
//   that need one (a block-wide vote), as in the mma.sync kernel; keys past the visible range and missing
//   blocks are zero-filled, never read.
// Rows: an invalid sequence (seq_view) is NaN, nothing read; a row that sees no key is 0 / 0 = NaN.
// Accumulation: f32; Q and P enter the products as bf16, as in the mma.sync kernel.
// Floor: 4 * q_len * n_keys * q_heads * head_dim FLOPs per sequence, about half under the causal mask, at the
//   dense bf16 rate (989 TFLOP/s nominal on an H100 SXM).
// Reference: the CPU paged kernel on the same cache values, tests/cuda/test_paged_attention.cpp.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_bf16_prefill.cuh"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/bulk_copy.cuh"
#include "backend/cuda/kernels/wgmma.cuh"

namespace autoglm::attention_bf16 {
namespace {

using cuda_paged::cache_row;
using cuda_paged::Paged;
using cuda_paged::seq_view;
using cuda_paged::SeqView;

constexpr int kHeadDim = 128;
constexpr int kKeys = 64;   // keys per tile
constexpr int kStages = 3;  // K / V tiles in shared memory: the one being read, two landing
constexpr uint32_t kTileBytes = kKeys * kHeadDim * 2;  // one K or V tile
// The swizzle wants 1024-byte aligned columns; the dynamic shared memory is aligned up by hand.
template <int kGroups>  // warpgroups per block, 64 packed query rows each
constexpr size_t smem_bytes() {
  return 1024 + size_t{64} * kGroups * kHeadDim * 2 + 2 * kStages * kTileBytes;
}
constexpr int64_t kMaxGroup = 64;

#if AUTOGLM_WGMMA_ARCH

constexpr int kSlots = 4;  // tiles whose cache rows are known: the one being read and the next three
constexpr int kColumns = kHeadDim / 64;
constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per row

__device__ __forceinline__ void store_shared_16(uint32_t addr, uint32_t a, uint32_t b, uint32_t c,
                                                uint32_t d) {
  asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(a), "r"(b), "r"(c), "r"(d)
               : "memory");
}

// Where packed row r (0 <= r < the block's rows) of the block's tile lands: its query row (in the sequence)
// and head.
struct PackedRow {
  int64_t i, head;
};

__device__ __forceinline__ PackedRow packed_row(int64_t prow0, int r, int64_t group, int64_t kv_head) {
  const int64_t pr = prow0 + r;
  return {pr / group, kv_head * group + pr % group};
}

#endif  // AUTOGLM_WGMMA_ARCH

template <int kGroups>
__global__ void __launch_bounds__(kGroups* wgmma::kWarpgroupThreads, 1)
    paged_prefill_wgmma_kernel(Paged<bf16> p) {
#if AUTOGLM_WGMMA_ARCH
  constexpr int kBlockThreads = kGroups * wgmma::kWarpgroupThreads;
  constexpr int kRows = 64 * kGroups;  // packed query rows per block
  constexpr uint32_t kQBytes = kRows * kHeadDim * 2;
  extern __shared__ uint8_t smem_raw[];
  __shared__ int64_t tile_seq, tile_row0;
  __shared__ bool tile_found;
  __shared__ int32_t row_s[kSlots][kKeys];  // cache rows of the keys of four tiles (-1: none)
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t q_s = (raw + 1023u) & ~1023u;  // [column][kRows][128 bytes]
  const uint32_t kv_s = q_s + kQBytes;          // stage s: K [column][kKeys][128 bytes] at 2 s, V at 2 s + 1

  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32, warp = tid / 32, wg = tid / 128;
  const int64_t kv_head = blockIdx.y, group = p.group;
  const int64_t q_stride = p.q_heads * kHeadDim, kv_stride = p.kv_heads * kHeadDim;

  if (tid < 32) find_tile<kRows>(p, blockIdx.x, lane, group, &tile_found, &tile_seq, &tile_row0);
  __syncthreads();
  if (!tile_found) return;  // uniform across the block
  const SeqView sv = seq_view(p, tile_seq);
  const int64_t prow0 = tile_row0;  // first packed row of the tile in the sequence
  if (!sv.valid) {                  // NaN rows, nothing read (uniform across the block)
    for (int idx = tid; idx < kRows * kHeadDim; idx += kBlockThreads) {
      const PackedRow pr = packed_row(prow0, idx / kHeadDim, group, kv_head);
      const int64_t row = sv.q_begin + pr.i;
      if (pr.i < sv.q_len && row >= 0 && row < p.t)
        cuda_attention::store_result(p.out, p.out16, row * q_stride + pr.head * kHeadDim + idx % kHeadDim,
                                     NAN);
    }
    return;
  }
  const int64_t n_rows = min(int64_t{kRows}, sv.q_len * group - prow0);  // packed, >= 1
  const int64_t pos_min = sv.pos0 + prow0 / group, pos_max = sv.pos0 + (prow0 + n_rows - 1) / group;
  const int64_t lo = cuda_attention::first_key(pos_min, p.window), hi = pos_max + 1;
  const bf16* k_head = p.k + kv_head * kHeadDim;
  const bf16* v_head = p.v + kv_head * kHeadDim;
  const int n_tiles = static_cast<int>((hi - lo + kKeys - 1) / kKeys);

  // The cache rows of tile t's keys into slot t % kSlots by the first kKeys threads (-1: past hi, or a block
  // id outside the cache); returns whether one of this thread's keys below hi has no cache row.
  auto lookup = [&](int t) {
    bool missing = false;
    if (tid < kKeys) {
      const int64_t j = lo + int64_t{t} * kKeys + tid;
      int32_t row = -1;
      if (j < hi) {
        const int64_t r = cache_row(p, sv.s, j);
        row = static_cast<int32_t>(r);  // < 2^31: wgmma_prefill_supported
        missing = r < 0;
      }
      row_s[t % kSlots][tid] = row;
    }
    return missing;
  };
  // Tile t's K and V rows into stage t % kStages (zero-filled where the row is -1, nothing read): a thread
  // copies one chunk column of every 16th key.
  const auto kv_stride32 = static_cast<int32_t>(kv_stride);
  auto issue = [&](int t) {
    static_assert(kBlockThreads % kChunks == 0, "a thread keeps one chunk column");
    constexpr int kKeyStep = kBlockThreads / kChunks;
    const int c = tid % kChunks, jj0 = tid / kChunks;
    const uint32_t k_dst = kv_s + 2 * (t % kStages) * kTileBytes + (c / 8) * kKeys * wgmma::kSwizzleRowBytes;
    const bf16* k_src = k_head + c * 8;
    const bf16* v_src = v_head + c * 8;
#pragma unroll
    for (int k = 0; k < (kKeys + kKeyStep - 1) / kKeyStep; ++k) {
      const int jj = jj0 + k * kKeyStep;
      if (kKeys % kKeyStep != 0 && jj >= kKeys) break;
      const int32_t row = row_s[t % kSlots][jj];
      const bool in = row >= 0;
      const int64_t offset = int64_t{in ? row : 0} * kv_stride32;
      const uint32_t dst = k_dst + wgmma::swizzled_offset(jj, c % 8);
      cp_async_16(dst, k_src + offset, in);
      cp_async_16(dst + kTileBytes, v_src + offset, in);
    }
  };

  // The cache rows of tiles 0-2; tiles 0 and 1 in flight, then Q.
  bool missing[kStages];  // of tiles it, it + 1 and it + 2 at the top of iteration it of the loop below
#pragma unroll
  for (int t = 0; t < kStages; ++t)
    missing[t] = t < n_tiles ? lookup(t) : false;
  __syncthreads();  // the rows of tiles 0-2 visible
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < n_tiles) issue(t);
    cp_async_commit();
  }

  // Q as bf16 (round to nearest even), zeros past the tile's rows: 16-byte chunks, 8 per thread.
  for (int idx = tid; idx < kRows * kChunks; idx += kBlockThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    uint32_t w[4] = {0u, 0u, 0u, 0u};
    if (r < n_rows) {
      const PackedRow pr = packed_row(prow0, r, group, kv_head);
      const float4* src =
          reinterpret_cast<const float4*>(p.q + (sv.q_begin + pr.i) * q_stride + pr.head * kHeadDim + c * 8);
      const float4 x0 = src[0], x1 = src[1];
      w[0] = pack_bf16(x0.x, x0.y);
      w[1] = pack_bf16(x0.z, x0.w);
      w[2] = pack_bf16(x1.x, x1.y);
      w[3] = pack_bf16(x1.z, x1.w);
    }
    store_shared_16(q_s + (c / 8) * kRows * wgmma::kSwizzleRowBytes + wgmma::swizzled_offset(r, c % 8), w[0],
                    w[1], w[2], w[3]);
  }

  // This thread's two rows (accumulator rows lane / 4 and + 8 of its warp's 16) and their positions (-1:
  // past the tile's rows, sees no key).
  const int row_a = 64 * wg + 16 * (warp % 4) + lane / 4;
  int32_t pos[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row_a + 8 * r;
    pos[r] = row < n_rows ? static_cast<int32_t>(sv.pos0 + (prow0 + row) / group) : -1;
  }
  const bool rows_full = n_rows == kRows;
  const int quad_col = lane % 4;
  const float scale_log2 = p.scale * kLog2e;
  const uint32_t q_wg = q_s + wg * 64 * wgmma::kSwizzleRowBytes;

  // S = Q K^T of tile t over the warpgroup's 64 rows and the tile's 64 keys, issued (not waited for).
  float s[32];
  auto issue_scores = [&](int t) {
    const uint32_t k_tile = kv_s + 2 * (t % kStages) * kTileBytes;
#pragma unroll
    for (int col = 0; col < kColumns; ++col) {
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        const uint32_t q_at = q_wg + col * kRows * wgmma::kSwizzleRowBytes + ks * 32;
        const uint32_t k_at = k_tile + col * kKeys * wgmma::kSwizzleRowBytes + ks * 32;
        wgmma::mma_64x64x16(s, wgmma::k_major(q_at), wgmma::k_major(k_at), col > 0 || ks > 0);
      }
    }
    wgmma::commit();
  };
  // The online softmax of tile t's scores (in s): scaled into the log2 domain, masked where the tile needs it
  // (`tile_missing`: some key of it lacks a cache row), the running max m and partial sum l updated per row
  // (the 4 lanes of a quad share a row), the probabilities as the A fragments of O += P V (the scores of
  // keys [16 kk, 16 kk + 16) are k-step kk's); returns in alpha the factor O must take first. Accumulator i
  // of the thread: row (i % 4) / 2 of its two, key 8 (i / 4) + 2 quad_col + i % 2 of the tile.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  auto softmax = [&](int t, bool tile_missing, uint32_t(&a)[4][4], float(&alpha)[2]) {
    const int64_t kt = lo + int64_t{t} * kKeys;
    if (p.softcap > 0.0f) {
#pragma unroll
      for (int i = 0; i < 32; ++i)
        s[i] = p.softcap * tanhf(s[i] * p.scale / p.softcap) * kLog2e;
    } else {
#pragma unroll
      for (int i = 0; i < 32; ++i)
        s[i] *= scale_log2;
    }
    const bool full =
        rows_full && !tile_missing && kt + kKeys - 1 <= pos_min && (p.window == 0 || pos_max - kt < p.window);
    if (!full) {
      const int32_t* tile_rows = row_s[t % kSlots];
#pragma unroll
      for (int i = 0; i < 32; ++i) {
        const int jj = 8 * (i / 4) + 2 * quad_col + i % 2;
        const int32_t j = static_cast<int32_t>(kt) + jj, q_pos = pos[(i % 4) / 2];
        if (tile_rows[jj] < 0 || j > q_pos || (p.window > 0 && q_pos - j >= p.window)) s[i] = -INFINITY;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < 8; ++n)
        tile_max = fmaxf(tile_max, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[r], tile_max);
      // No visible key so far: every p is exp2(-inf) = 0 against a zero base, and nothing to rescale.
      const float base = m_new == -INFINITY ? 0.0f : m_new;
      alpha[r] = fast_exp2(m[r] - base);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        s[4 * n + 2 * r] = fast_exp2(s[4 * n + 2 * r] - base);
        s[4 * n + 2 * r + 1] = fast_exp2(s[4 * n + 2 * r + 1] - base);
        sum += s[4 * n + 2 * r] + s[4 * n + 2 * r + 1];
      }
      l[r] = l[r] * alpha[r] + sum;
      m[r] = m_new;
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
      for (int e = 0; e < 4; ++e)
        a[kk][e] = pack_bf16(s[8 * kk + 2 * e], s[8 * kk + 2 * e + 1]);
    }
  };
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i)
    o[i] = 0.0f;
  auto rescale = [&](const float(&alpha)[2]) {
#pragma unroll
    for (int n = 0; n < 16; ++n) {
      o[4 * n] *= alpha[0];
      o[4 * n + 1] *= alpha[0];
      o[4 * n + 2] *= alpha[1];
      o[4 * n + 3] *= alpha[1];
    }
  };

  uint32_t a[4][4];
  float alpha[2];
  for (int it = 0; it < n_tiles; ++it) {
    cp_async_wait<kStages - 2>();               // this thread's copies of tile it (and the Q stores) done
    bulk_copy::fence_shared_for_async_proxy();  // ... and visible to the tensor cores after the barrier
    // Tile it visible; tile it - 1's stage and slot no longer read; does a key of tile it lack a cache row?
    const bool tile_missing = __syncthreads_or(missing[0]) != 0;
    if (it + kStages - 1 < n_tiles) issue(it + kStages - 1);
    cp_async_commit();
    wgmma::fence();
    issue_scores(it);
    // The block-table reads of tile it + 3 wait on memory while the tensor cores work.
    const bool after = it + kStages < n_tiles ? lookup(it + kStages) : false;
#pragma unroll
    for (int t = 0; t + 1 < kStages; ++t)
      missing[t] = missing[t + 1];
    missing[kStages - 1] = after;
    wgmma::wait<0>();
    wgmma::fence_registers(s);
    softmax(it, tile_missing, a, alpha);
    rescale(alpha);
    // O += P V of tile it.
    wgmma::fence_registers(o);
    wgmma::fence();
    const uint32_t v_tile = kv_s + (2 * (it % kStages) + 1) * kTileBytes;
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t v_at = v_tile + kk * 16 * wgmma::kSwizzleRowBytes;
      wgmma::mma_64x128x16_rs(o, a[kk], wgmma::mn_major(v_at, kKeys * wgmma::kSwizzleRowBytes));
    }
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::fence_registers(o);
  }

  // out = O / l for the thread's rows of the tile.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int row = row_a + 8 * r;
    if (row >= n_rows) continue;
    const PackedRow pr = packed_row(prow0, row, group, kv_head);
    const int64_t first = (sv.q_begin + pr.i) * q_stride + pr.head * kHeadDim + 2 * quad_col;
    const float inv = 1.0f / sum;  // 0 / 0 = NaN for a row that saw no key
    if (p.out16 != nullptr) {
#pragma unroll
      for (int n = 0; n < 16; ++n)
        *reinterpret_cast<__nv_bfloat162*>(p.out16 + first + 8 * n) =
            __floats2bfloat162_rn(o[4 * n + 2 * r] * inv, o[4 * n + 2 * r + 1] * inv);
    } else {
#pragma unroll
      for (int n = 0; n < 16; ++n)
        *reinterpret_cast<float2*>(p.out + first + 8 * n) =
            make_float2(o[4 * n + 2 * r] * inv, o[4 * n + 2 * r + 1] * inv);
    }
  }
#endif  // AUTOGLM_WGMMA_ARCH
}

// Whether the kernel was built from sm_90a code (the device pass that has wgmma) for this device, rather than
// from the PTX kept for older targets: asked once per process.
bool kernel_has_wgmma() {
  static const bool has = [] {
    cudaFuncAttributes attributes{};
    return cudaFuncGetAttributes(&attributes, paged_prefill_wgmma_kernel<2>) == cudaSuccess &&
           attributes.ptxVersion >= 90;
  }();
  return has;
}

}  // namespace

bool wgmma_prefill_supported(const CudaBackend& backend, const Paged<bf16>& p) {
  // The cache bounds (rows as i32 in shared memory) and alignments are the mma.sync kernel's.
  return backend.warpgroup_mma() && paged_prefill_supported(p) && p.head_dim == kHeadDim && p.group >= 1 &&
         p.group <= kMaxGroup && p.q_heads == p.group * p.kv_heads &&
         reinterpret_cast<uintptr_t>(p.q) % 16 == 0 && reinterpret_cast<uintptr_t>(p.out) % 8 == 0 &&
         reinterpret_cast<uintptr_t>(p.out16) % 4 == 0 && kernel_has_wgmma();
}

namespace {

template <int kGroups>
void launch_groups(CudaBackend& backend, const Paged<bf16>& p, int64_t rows, const char* name) {
  constexpr size_t kSmem = smem_bytes<kGroups>();
  constexpr int kRows = 64 * kGroups;
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(paged_prefill_wgmma_kernel<kGroups>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSmem));
  (void)opted_in;  // a failure shows up as the launch error below
  // Each sequence's packed rows in tiles of kRows, its last tile partial: at most this many tiles (find_tile
  // ends the blocks past them).
  const int64_t tiles = (rows * p.group + kRows - 1) / kRows + p.n_seqs;
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.kv_heads));
  paged_prefill_wgmma_kernel<kGroups>
      <<<grid, kGroups * wgmma::kWarpgroupThreads, kSmem, backend.stream()>>>(p);
  backend.note_launch(name);
}

}  // namespace

void launch_wgmma_prefill(CudaBackend& backend, const Paged<bf16>& p, int64_t rows) {
  if (wgmma_prefill_warpgroups(p.n_seqs) == 3) {
    launch_groups<3>(backend, p, rows, "paged_prefill_wgmma_kernel<3>");
  } else {
    launch_groups<2>(backend, p, rows, "paged_prefill_wgmma_kernel<2>");
  }
}

}  // namespace autoglm::attention_bf16

// Tensor-core prefill of the bf16-cache attention (dispatch, decode, generic kernel: attention_bf16.cu).
//
// Layout: q, out [t, q_heads, head_dim] f32; caches [capacity, kv_heads, head_dim] bf16 (key j of KV head g
//   at (j * kv_heads + g) * head_dim). Query row i sits at position q_pos0 + i.
// Tiling (head_dim D a multiple of 16 up to 256, 16-byte aligned caches, t > 4 rows): flash attention on
//   tensor cores (FA2 layout). Grid (query tile, query head), tiles longest first; a block of 4 warps,
//   16 query rows per warp, or 32 (two row blocks sharing each K / V fragment) where the launch still has
//   enough blocks (prefill_row_blocks.h): query tiles of 64 or 128 rows. The Q tile is converted f32 -> bf16
//   (round to nearest even) into shared memory once; K and V tiles of BN keys (64 for D <= 128, else 32: the
//   O accumulator holds D / 2 f32 registers per thread) stream through two shared-memory stages by cp.async
//   (16 bytes per copy, keys past the block's last visible one zero-filled, so NaN in unseen rows never
//   reaches a product), the next tile in flight while the current one is computed. Rows are padded by 16
//   bytes so the 8 row addresses of each ldmatrix hit distinct banks. S = Q K^T by mma.sync m16n8k16 (bf16
//   in, f32 accumulate; A from ldmatrix of Q, B from ldmatrix of K rows); scale, softcap and mask in f32 (the
//   mask only on tiles that cross the causal diagonal, the window edge or the end of t); online softmax in
//   the log2 domain with the running max and sum per row in registers (quad shuffles); P rounded to bf16 is
//   the A operand of O += P V straight from the S accumulators (their fragment layouts coincide), B from
//   ldmatrix.trans of V. Key tiles before the window or after the diagonal of the whole query tile are
//   never loaded. The query heads of a KV head re-read its K/V tiles through L2 (1 MiB per KV head at 2,048
//   tokens and D = 128), so heads are not packed into one block.
// Accumulation: f32 (mma accumulators, softmax state); Q and P enter the mma as bf16.
// Floor: 4 * t * n_keys * q_heads * D FLOPs, about half under the causal mask (Llama-3-8B at 2,048 tokens:
//   34 GFLOP per layer, ~0.1 ms at 300 TFLOP/s of bf16 mma.sync).
// Shared with the paged kernel (paged_attention_bf16_prefill.cu): attention_bf16_prefill.cuh (primitives, Q
//   load, one key tile, the store).
// Reference: the CPU f32 attention on the same bf16-rounded cache values, tests/cuda/test_attention_bf16.cpp.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/kernels/attention_bf16_prefill.cuh"

namespace autoglm::attention_bf16 {
namespace {

template <int D, int RB>
__global__ void __launch_bounds__(kThreads) attention_prefill_bf16_kernel(Geometry g) {
  constexpr int BN = prefill_keys<D>(), LD = prefill_row<D>();
  constexpr int kRows = prefill_rows<RB>();
  constexpr int kChunks = D / 8;
  extern __shared__ uint4 smem_raw[];
  bf16* q_s = reinterpret_cast<bf16*>(smem_raw);  // [kRows][LD]
  bf16* k_s = q_s + kRows * LD;                   // [2][BN][LD]
  bf16* v_s = k_s + 2 * BN * LD;                  // [2][BN][LD]

  const int64_t head = blockIdx.y, kv_head = head / g.group;
  const int64_t i0 = (int64_t{gridDim.x} - 1 - blockIdx.x) * kRows;  // longest tiles first
  const int64_t i_end = min(i0 + kRows, g.t);
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
  load_q_tile<D, RB>(q_s, g.q + i0 * q_stride + head * D, g.t - i0, q_stride);

  // The positions of this thread's rows (-1: a row past t sees no key).
  int32_t pos[2 * RB];
  thread_row_positions<D, RB>(pos_min, g.t - i0, pos);
  const bool rows_full = i0 + kRows <= g.t;
  float o[RB][D / 8][4], m[RB][2], l[RB][2];  // O, running max (log2 domain) and partial sum per row
  clear_accumulators<D, RB>(o, m, l);

  const int n_tiles = static_cast<int>((hi - lo + BN - 1) / BN);
  for (int it = 0; it < n_tiles; ++it) {
    const int64_t kt = lo + int64_t{it} * BN;
    const int stage = it & 1;
    cp_async_wait_all();
    __syncthreads();  // tile `it` (and, on the first pass, Q) visible; stage ^ 1 no longer read
    if (it + 1 < n_tiles) load_tile(stage ^ 1, kt + BN);
    const bool full = rows_full && kt + BN - 1 <= pos_min && (g.window == 0 || pos_max - kt < g.window);
    attend_tile<D, RB>(
        q_s, k_s + stage * BN * LD, v_s + stage * BN * LD, full, g.scale, g.softcap,
        [&](int jj, int r) {
          const int64_t j = kt + jj, p = pos[r];
          return j > p || (g.window > 0 && p - j >= g.window);
        },
        o, m, l);
  }
  store_rows<D, RB>(o, l, g.out + i0 * q_stride + head * D, g.t - i0, q_stride);
}

template <int D, int RB>
void launch_prefill_rb(CudaBackend& backend, const Geometry& g) {
  constexpr size_t kSmem = prefill_smem_bytes<D, RB>();
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once per process.
  static const cudaError_t opted_in =
      cudaFuncSetAttribute(attention_prefill_bf16_kernel<D, RB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSmem));
  (void)opted_in;  // a failure shows up as the launch error below
  constexpr int kRows = prefill_rows<RB>();
  const dim3 grid(static_cast<unsigned>((g.t + kRows - 1) / kRows), static_cast<unsigned>(g.q_heads));
  attention_prefill_bf16_kernel<D, RB><<<grid, kThreads, kSmem, backend.stream()>>>(g);
  backend.note_launch("attention_prefill_bf16_kernel");
}

template <int D>
void launch_prefill_d(CudaBackend& backend, const Geometry& g) {
  with_row_blocks<D>(g.t, g.q_heads, backend.properties().multiProcessorCount,
                     [&]<int RB>() { launch_prefill_rb<D, RB>(backend, g); });
}

}  // namespace

void launch_prefill(CudaBackend& backend, const Geometry& g) {
  with_head_dim16(g.head_dim, [&]<int D>() { launch_prefill_d<D>(backend, g); });
}

}  // namespace autoglm::attention_bf16

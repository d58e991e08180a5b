// How many 16-row blocks of queries each warp of the tensor-core prefill kernels takes
// (attention_bf16_prefill.cuh), and how many warpgroups the blocks of the Hopper one have: host-side choices
// from the launch's shape alone, so that a recorded launch replays with its kernel.
//
// Two row blocks per warp: each K and V fragment read from shared memory feeds two mma and a warp has twice
// the independent work per key tile, but a launch has half the blocks. Two are compiled for head sizes 64 and
// 128 only (the O accumulators fit the registers twice there), and taken where the blocks of 128 rows still
// fill the SMs about two blocks deep twice over (3.5 blocks per SM). Measured on an H100, Llama-3-8B heads: 1
// x 2,048 rows 1.13x faster, 4 x 512 rows over 1,024 keys 1.21x, 16 x 128 rows over 1,024 keys 1.27x; one
// sequence of 512-1,500 rows 1.2-1.4x slower with half the blocks.
#pragma once

#include <cstdint>

namespace autoglm::attention_bf16 {

constexpr bool two_row_blocks_compiled(int64_t head_dim) {
  return head_dim == 64 || head_dim == 128;
}

// 1 or 2, for t query rows of q_heads heads on a device of `sms` SMs (4 warps, 16 rows per block and warp).
inline int prefill_launch_row_blocks(int64_t t, int64_t q_heads, int64_t head_dim, int sms) {
  if (!two_row_blocks_compiled(head_dim)) return 1;
  constexpr int64_t kWideRows = 128;
  const int64_t wide_blocks = (t + kWideRows - 1) / kWideRows * q_heads;
  return 2 * wide_blocks >= 7 * int64_t{sms} ? 2 : 1;
}

// Warpgroups per block of the Hopper prefill (paged_attention_prefill_wgmma.cu) for a launch of n_seqs
// sequences: 3 (192 packed rows, 12 warps per SM to hide the softmax's latency) from 4 sequences on, else 2
// (128 rows: one long prompt's causal triangle spreads over more, finer blocks). Measured on an H100, 8B
// heads: with 3, 4 x 576 rows 1.09x and 16 x 576 1.16x faster, 16 x 2,048 1.10-1.15x; one prompt of 576-2,048
// rows 1.2-1.25x slower.
inline int wgmma_prefill_warpgroups(int64_t n_seqs) {
  return n_seqs >= 4 ? 3 : 2;
}

}  // namespace autoglm::attention_bf16

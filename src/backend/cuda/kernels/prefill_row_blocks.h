// How many 16-row blocks of queries each warp of the tensor-core prefill kernels takes
// (attention_bf16_prefill.cuh): a host-side choice from the launch's shape alone, so that a recorded launch
// replays with its kernel.
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

}  // namespace autoglm::attention_bf16

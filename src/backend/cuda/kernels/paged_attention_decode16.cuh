// Split-K decode attention over a paged f16 KV cache with 16-byte loads (paged_attention_decode16.cu), for
// head_dim 64, 128 or 256; paged_attention.cu picks it for such caches (bf16 ones take
// paged_attention_decode_tc.cuh) and keeps its element-wise kernel for the rest. Private to kernels/.
#pragma once

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_bf16_prefill.cuh"

namespace autoglm::paged_decode16 {

// True when the kernel takes these operands: head_dim 64, 128 or 256 and 16-byte aligned caches.
template <typename T>
bool supported(const cuda_paged::Paged<T>& p);

// Queues the decode kernel for the query rows [0, p.t) (up to a few per sequence), heads tiled by
// cuda_attention::head_tile_size (1, 2, 4 or 8 query heads of one KV head per block) and keys cut into
// `splits` ranges of p.split_keys: with one split the result goes to p.out, with several to part_out [t,
// q_heads, splits, head_dim] and part_stats [t, q_heads, splits, 2] (max, sum) for paged_attention.cu's merge
// kernel.
template <typename T>
void launch(CudaBackend& backend, const cuda_paged::Paged<T>& p, int splits, float* part_out,
            float* part_stats);

}  // namespace autoglm::paged_decode16

// Split-K decode attention over a paged bf16 or f8_e4m3 KV cache on tensor cores
// (paged_attention_decode_tc.cu), for head_dim 64, 128 or 256; paged_attention.cu picks it for such caches,
// paged_decode16 for f16 ones. Private to kernels/.
#pragma once

#include <cuda_fp8.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/attention_bf16_prefill.cuh"

namespace autoglm::paged_decode_tc {

// True when the kernel takes these operands: head_dim 64, 128 or 256, 16-byte aligned caches and q.
bool supported(const cuda_paged::Paged<__nv_bfloat16>& p);
bool supported(const cuda_paged::Paged<__nv_fp8_e4m3>& p);

// Queues the decode kernel for the query rows [0, p.t) (up to a few per sequence), heads tiled by
// cuda_attention::head_tile_size (up to 8 query heads of one KV head per block) and keys cut into `splits`
// ranges of p.split_keys: with one split the result goes to p.out, with several to part_out [t, q_heads,
// splits, head_dim] and part_stats [t, q_heads, splits, 2] (max, sum) for paged_attention.cu's merge kernel.
void launch(CudaBackend& backend, const cuda_paged::Paged<__nv_bfloat16>& p, int splits, float* part_out,
            float* part_stats);
void launch(CudaBackend& backend, const cuda_paged::Paged<__nv_fp8_e4m3>& p, int splits, float* part_out,
            float* part_stats);

}  // namespace autoglm::paged_decode_tc

// Causal multi-head attention with grouped KV heads over a contiguous KV cache.
// Query row t sits at position q_pos0 + t and attends cache rows j with
//   j <= q_pos0 + t  and  (window == 0 or q_pos0 + t - j < window)   (HF sliding-window semantics)
// Query head h reads KV head h / (q_heads / kv_heads). scores = scale * q.k, optionally soft-capped as
// softcap * tanh(scores / softcap); softmax in f32; out = probabilities . v.
// The caches are f32 (the exact path), bf16 or f16 (both caches of one dtype, which is the dispatch key);
// q and out stay f32. A backend without a kernel for a cache dtype answers "no kernel" (the CPU: f32 only).
// Floor (decode): bytes of the K and V rows read, once per KV head.
//
// Positions on the device (for recorded work, backend.h CapturedWork): a replay re-runs the recorded launches
// with their recorded parameters and grids, so a kernel that took q_pos0 from the host would attend at the
// recorded position forever. With `positions` given (q_pos0 must still be passed, equal to positions[0]),
// kernels that can read the query position on the device do so, and then neither their parameters, nor
// their grids, nor their scratch sizes depend on q_pos0: they are sized by the cache capacity, so the launch
// may be recorded once and replayed after the caller overwrote positions (and the cache rows) for a later
// step. The CUDA decode kernels (t <= 4, every cache dtype) are of that kind; prefill kernels (t > 4) use the
// host q_pos0, so recording prefill is not supported. The CPU reads positions[0] (host memory there) and
// records nothing. Without positions every kernel uses q_pos0, as before.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct AttentionArgs {
  TensorView q;        // [t, q_heads, head_dim] f32
  TensorView k_cache;  // [capacity, kv_heads, head_dim] f32, bf16 or f16 (dispatch key); rows [0, q_pos0 + t)
                       // are valid
  TensorView v_cache;  // [capacity, kv_heads, head_dim], k_cache's dtype
  int64_t q_pos0 = 0;  // position of the first query row
  float scale = 1.0f;
  int64_t window = 0;    // 0: full causal attention
  float softcap = 0.0f;  // 0: none
  TensorView out;        // [t, q_heads, head_dim] f32; must not alias q
  // [t] i32 on the backend, positions[i] = q_pos0 + i, or data == nullptr (none: q_pos0 alone). Last, so
  // that aggregate initializations without it keep compiling. Must not alias out.
  TensorView positions{};
};

Status attention(Backend& backend, const AttentionArgs& args);

// Writes src rows into cache rows [start, start + t): the K or V of new tokens. src has the cache's dtype
// (a byte copy), or is f32 with a bf16 or f16 cache (converted, rounding to nearest even as core/half.h).
struct KvStoreArgs {
  TensorView src;    // [t, kv_heads, head_dim] (dispatch key: the cache dtype)
  TensorView cache;  // [capacity, kv_heads, head_dim]
  int64_t start = 0;
};

Status kv_store(Backend& backend, const KvStoreArgs& args);

}  // namespace autoglm

// rope + kv_store fused: RoPE on q and k (exactly the rope op's math, ops/rope.h: both layouts, partial
// rotary_dim) and the K/V write of new tokens: token i's rotated k and its v go to cache row positions[i].
// The cache row comes from the device-side positions rather than a host-side start, so a decode step's
// launches do not change from one step to the next (the step can be replayed as a CUDA graph).
// With a bf16 or f16 cache, k and v are rounded to it to nearest even as core/half.h (as kv_store does);
// with an f8_e4m3 cache, to nearest even and saturated to +-448 as core/fp8.h (no scale: values are stored
// as they are); q_out stays f32.
#pragma once

#include "backend/backend.h"
#include "ops/rope.h"

namespace autoglm {

struct RopeKvStoreArgs {
  TensorView q;          // [t, q_heads, head_dim] f32
  TensorView k;          // [t, kv_heads, head_dim] f32
  TensorView v;          // [t, kv_heads, head_dim] f32
  TensorView positions;  // [t] i32: rotation angle and cache row of each token. The caller guarantees
                         // 0 <= positions[i] < capacity; host positions are checked, and a device kernel
                         // skips the cache write of a token outside the cache rather than write past it.
  TensorView inv_freq;   // [rotary_dim / 2] f32
  int rotary_dim = 0;    // even, > 0, <= head_dim
  RopeLayout layout = RopeLayout::kNeox;
  TensorView q_out;    // [t, q_heads, head_dim] f32; may alias q (exactly)
  TensorView k_cache;  // [capacity, kv_heads, head_dim] f32, bf16, f16 or f8_e4m3 (dispatch key); disjoint
                       // from all the other tensors
  TensorView v_cache;  // [capacity, kv_heads, head_dim], k_cache's dtype
  // [t] i32 on the backend: the cache row of each token, for a paged cache whose rows are not the positions
  // (ops/paged_attention.h: block * block_size + offset); data == nullptr: row positions[i]. Same bounds
  // promise and checks as positions. Last, so aggregate initializations without it keep compiling.
  TensorView slots{};
  // [t, (q_heads + 2 * kv_heads) * head_dim] f32: the fused q/k/v projection's output, whose rows are
  // [q | k | v]. When given, q, k and v must be empty: they are read as its column blocks (head counts from
  // q_out and k_cache), so a batch of tokens needs no copy into three contiguous tensors.
  TensorView qkv{};
};

Status rope_kv_store(Backend& backend, const RopeKvStoreArgs& args);

// Where a kernel reads a checked call's q, k and v (separate tensors or the column blocks of qkv): base
// pointers and the floats from one token's row to the next.
struct RopeKvStoreInputs {
  const float* q;
  const float* k;
  const float* v;
  int64_t q_stride, kv_stride;
  int64_t t, q_heads, kv_heads, head_dim;
};

inline RopeKvStoreInputs rope_kv_store_inputs(const RopeKvStoreArgs& a) {
  RopeKvStoreInputs in;
  in.t = a.q_out.shape[0];
  in.q_heads = a.q_out.shape[1];
  in.head_dim = a.q_out.shape[2];
  in.kv_heads = a.k_cache.shape[1];
  if (a.qkv.data != nullptr) {
    in.q = a.qkv.as<const float>();
    in.k = in.q + in.q_heads * in.head_dim;
    in.v = in.k + in.kv_heads * in.head_dim;
    in.q_stride = in.kv_stride = (in.q_heads + 2 * in.kv_heads) * in.head_dim;
  } else {
    in.q = a.q.as<const float>();
    in.k = a.k.as<const float>();
    in.v = a.v.as<const float>();
    in.q_stride = in.q_heads * in.head_dim;
    in.kv_stride = in.kv_heads * in.head_dim;
  }
  return in;
}

}  // namespace autoglm

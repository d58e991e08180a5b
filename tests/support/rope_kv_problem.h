// A whole rope + KV-store problem for the CPU and CUDA op tests (tests/backend and tests/cuda,
// test_rope_kv_store.cpp). Header-only: only those two binaries link the op layer that RopeLayout belongs to.
#pragma once

#include <cstdint>

#include "ops/rope.h"
#include "support/rope_inputs.h"
#include "support/test_data.h"
#include "tensor/tensor.h"

namespace autoglm::test {

// On the host: random f32 q [t, q_heads, head_dim], k and v [t, kv_heads, head_dim], t shuffled rows of a
// cache of `capacity` = 2 t + 11 rows to store them into, and the inverse frequencies.
struct RopeKvProblem {
  Tensor q, k, v, positions, inv_freq;
  int rotary_dim;
  RopeLayout layout;
  int64_t capacity;
};

inline RopeKvProblem make_rope_kv_problem(RopeLayout layout, int64_t t, int64_t q_heads, int64_t kv_heads,
                                          int64_t head_dim, int rotary_dim, uint64_t seed) {
  const int64_t capacity = 2 * t + 11;
  return {random_tensor(DType::kF32, Shape{t, q_heads, head_dim}, seed),
          random_tensor(DType::kF32, Shape{t, kv_heads, head_dim}, seed + 1),
          random_tensor(DType::kF32, Shape{t, kv_heads, head_dim}, seed + 2),
          make_positions(t, capacity, seed + 3),
          make_inv_freq(rotary_dim),
          rotary_dim,
          layout,
          capacity};
}

// The cache the problem stores into: [capacity, kv_heads, head_dim].
inline Shape rope_kv_cache_shape(const RopeKvProblem& p) {
  return Shape{p.capacity, p.k.shape()[1], p.k.shape()[2]};
}

}  // namespace autoglm::test

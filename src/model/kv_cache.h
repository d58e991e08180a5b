// Contiguous per-layer K and V storage of one sequence: [capacity, kv_heads, head_dim] f32 per layer.
// The paged, shared KV store of the serving engine replaces this for batched serving; single-sequence
// generation and the golden tests use this one.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "loader/model_config.h"

namespace autoglm {

struct KvCache {
  std::vector<Tensor> k;  // one per layer
  std::vector<Tensor> v;
  int64_t capacity = 0;  // positions
  int64_t n_filled = 0;  // positions written so far

  static Expected<KvCache> create(Backend& backend, const ModelConfig& config, int64_t capacity);
  size_t nbytes() const;
};

}  // namespace autoglm

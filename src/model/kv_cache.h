// Contiguous per-layer K and V storage of one sequence: [capacity, kv_heads, head_dim] per layer, f32, or
// bf16 where the model computes in 16 bits on a GPU (Model::kv_dtype()).
// The paged, shared KV store of the serving engine replaces this for batched serving; single-sequence
// generation and the golden tests use this one.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "loader/model_config.h"

namespace autoglm {

struct DecodeReplay;        // model/decode_replay.h: a recorded decode step of this sequence
struct BatchDecodeReplays;  // model/decode_replay.h: recorded batched decode steps over this (paged) cache

struct KvCache {
  std::vector<Tensor> k;  // one per layer
  std::vector<Tensor> v;
  int64_t capacity = 0;                               // positions
  int64_t n_filled = 0;                               // positions written so far
  std::shared_ptr<DecodeReplay> decode_replay;        // set by Model::forward on backends that record work
  std::shared_ptr<BatchDecodeReplays> batch_replays;  // set by Model::forward_decode_batch_replayed

  static Expected<KvCache> create(Backend& backend, const ModelConfig& config, int64_t capacity,
                                  DType dtype = DType::kF32);
  size_t nbytes() const;
};

}  // namespace autoglm

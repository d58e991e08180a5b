// Which part of a decoder-only model one rank of a tensor-parallel group holds (Megatron-style sharding).
//
//  * Attention: the query heads split evenly across ranks; the q, k, v projections by rows (their output
//    columns: each rank computes its own heads), the output projection by columns (its input: each rank
//    multiplies its heads' part, an all-reduce sums the partial outputs).
//  * KV heads: split with the query heads when the ranks divide them; when there are fewer KV heads than
//    ranks (and the ranks are a multiple of them) each KV head is replicated on the ranks whose query heads
//    read it. Each rank's KV cache holds only its KV heads.
//  * MLP: gate and up by rows (each rank a range of the intermediate features), down by columns, then an
//    all-reduce.
//  * Vocabulary: the embedding and the LM head by rows in equal ranges (vocab-parallel): the embedding is a
//    masked lookup summed by an all-reduce, the LM head's logits are gathered by columns. When the ranks do
//    not divide the vocabulary, both stay whole on every rank.
// Norms, biases of row-split outputs follow their rows; the biases of all-reduced outputs (o, down) are added
// on rank 0 only, so the sum counts them once.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "loader/model_config.h"

namespace autoglm {

struct TensorParallel {
  int rank = 0;
  int world = 1;  // ranks in the group; 1: no parallelism
};

// A range [begin, end) of rows or columns of a weight.
struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  friend bool operator==(const Range&, const Range&) = default;
};

struct ShardPlan {
  TensorParallel tp;
  Range q_heads;               // of num_attention_heads
  Range kv_heads;              // of num_key_value_heads
  bool kv_replicated = false;  // fewer KV heads than ranks: kv_heads is one head shared with other ranks
  Range ffn;                   // of intermediate_size
  bool vocab_parallel = false;
  Range vocab;  // of vocab_size: the embedding and LM head rows this rank holds (all when not parallel)

  // This rank's rows of the q projection, and of the k and v projections (its heads' features).
  Range q_rows(const ModelConfig& c) const { return {q_heads.begin * c.head_dim, q_heads.end * c.head_dim}; }
  Range kv_rows(const ModelConfig& c) const {
    return {kv_heads.begin * c.head_dim, kv_heads.end * c.head_dim};
  }
  // The config of the model as this rank computes it: its own heads, KV heads and intermediate features (the
  // vocabulary stays whole: the logits are gathered).
  ModelConfig local_config(const ModelConfig& c) const;
};

// kInvalidArgument when the model cannot be split over tp.world ranks (the message says which size does not
// divide), or rank / world are out of range.
Expected<ShardPlan> plan_shards(const ModelConfig& config, const TensorParallel& tp);

}  // namespace autoglm

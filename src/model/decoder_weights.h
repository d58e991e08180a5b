// The weights of a decoder-only transformer, loaded according to its DecoderSpec.
// Matrices keep the requested dtype; norm weights and biases are f32 (they are tiny and feed f32 math).
// Separate gate and up projections are concatenated into one [2 * ffn, hidden] matrix at load, so every
// architecture runs one matmul and one swiglu per MLP.
#pragma once

#include <vector>

#include "model/architecture.h"
#include "model/weight_provider.h"
#include "tensor/tensor.h"

namespace autoglm {

struct DecoderLayerWeights {
  Tensor attn_norm;
  // q, k and v projections are stacked into w_qkv [q_dim + 2 * kv_dim, hidden] at load (one matmul per
  // decode step); wq/wk/wv are row ranges of it. w_qkv stays undefined when their dtypes differ.
  Tensor w_qkv, b_qkv;
  Tensor wq, wk, wv, wo;
  Tensor bq, bk, bv, bo;  // undefined when the spec has no such bias
  Tensor q_norm, k_norm;  // spec.qk_norm
  Tensor post_attn_norm;  // spec.sandwich_norms
  Tensor mlp_norm;
  Tensor w_gate_up, b_gate_up;
  Tensor w_down, b_down;
  Tensor post_mlp_norm;  // spec.sandwich_norms
};

struct DecoderWeights {
  Tensor embed;  // [vocab, hidden] (a vocab-parallel rank: its rows)
  std::vector<DecoderLayerWeights> layers;
  Tensor final_norm;        // [hidden]
  Tensor lm_head;           // [vocab, hidden] (or its rows); shares embed's storage when tied
  Tensor inv_freq;          // [rotary_dim / 2] f32
  size_t matrix_bytes = 0;  // bytes of all matrices but the embedding: what one decode step streams
};

// `matrix_dtype` is the dtype of every 2-D weight; unset keeps each one's stored dtype. `plan`: the part a
// tensor-parallel rank holds (parallel/shard_plan.h): its rows of q, k, v, gate, up, embedding and LM head,
// its columns of o and down, the biases of o and down on rank 0 only.
Expected<DecoderWeights> load_decoder_weights(const ModelConfig& config, const DecoderSpec& spec,
                                              WeightProvider& provider, Backend& backend,
                                              std::optional<DType> matrix_dtype, const ShardPlan& plan);

}  // namespace autoglm

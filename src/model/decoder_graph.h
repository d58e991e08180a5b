// Builds the forward graph of one step of a decoder-only transformer: tokens at positions
// [cache.n_filled, cache.n_filled + n) attend to the cache and to each other, their K/V are appended; or,
// with paged inputs, the tokens of several sequences, each attending to its own blocks of a paged cache.
#pragma once

#include <cstdint>
#include <span>

#include "graph/graph.h"
#include "model/architecture.h"
#include "model/batch_step.h"
#include "model/decoder_weights.h"
#include "model/kv_cache.h"
#include "parallel/shard_plan.h"

namespace autoglm {

// A batch of sequences over a paged cache (model/batch_step.h); all tensors i32 on the backend.
struct PagedStepInputs {
  TensorView slots;         // [n] cache row of each token
  TensorView block_tables;  // [n_seqs, width]
  TensorView q_start;       // [n_seqs + 1]
  TensorView seq_lens;      // [n_seqs]
  TensorView logit_rows;    // [r] rows whose logits are wanted; data == nullptr: every row (or, with
                            // last_row_only, the last: a step that samples nothing still ends in logits)
  bool last_row_only = false;
  int64_t block_size = 16;
  int64_t max_q_len = 1;
  int64_t n_decode_seqs = 0;  // leading sequences of one token
  // Set: the step runs as two halves (model/nano_batch.h), the second from token row split_row; each half is
  // a step of its own over row views of the tensors above, except for `second`'s q_start and logit rows,
  // which count from the second half's first row. Nodes of both halves interleave: each half's attention runs
  // on lane 1 beside the other half's projections and MLP on lane 0.
  struct Half {
    int64_t n_seqs = 0;
    int64_t n_decode_seqs = 0;
    int64_t max_q_len = 1;
    int64_t n_logit_rows = 0;
    TensorView q_start;     // [n_seqs + 1], from the half's first row
    TensorView logit_rows;  // [n_logit_rows], from the half's first row
  };
  int64_t split_row = 0;  // 0: not split
  Half halves[2];
  int gemm_sms[2] = {};  // the SMs each half's GEMMs are planned for (Graph::set_gemm_sms)
};

struct StepInputs {
  TensorView ids;                          // [n] i32
  TensorView positions;                    // [n] i32
  int64_t n_past = 0;                      // cache rows already filled (one contiguous sequence)
  bool all_logits = false;                 // logits of every row instead of the last only
  const PagedStepInputs* paged = nullptr;  // set: a batch over a paged cache; n_past and all_logits unused
};

// The inputs of a packed batch step (model/batch_step.h: layout l, its i32 buffer at `base` on `device`),
// split in halves where l.split says so; in->paged points at *paged.
void paged_step_inputs(const BatchStepLayout& l, const int32_t* base, Device device, int64_t block_size,
                       PagedStepInputs* paged, StepInputs* in);

// How a backend wants the graph built.
struct DecoderGraphOptions {
  // Each layer's two residual adds ride on the projection before them (Graph::matmul's addend: the o
  // projection's and the down projection's output is the new residual stream), followed by a plain norm,
  // instead of an add fused into the norm after the projection: the projection's output is not written and
  // read back. For backends whose GEMMs read the addend in their epilogue (CUDA); applies to a single rank
  // (over several, the partial outputs are summed first) without norms after the projections.
  bool residual_in_projections = false;
  // The last layer's o projection and MLP run on the rows whose logits are wanted only (the last row of a
  // prompt, a paged step's sampled rows): nothing reads the other rows' hidden states after its attention.
  // Off: every row goes through the whole last layer (for comparisons; the logits are the same).
  bool final_rows_in_last_layer = true;
};

// Returns the logits value ([n or 1, vocab] f32), marked as the graph's output. `config` is the model as
// this rank computes it (ShardPlan::local_config: its heads and features); with `plan` over several ranks
// the graph sums the attention and MLP outputs over the group (all_reduce after the o and down
// projections), looks tokens up in its vocabulary rows (shard_ids, then an all_reduce of the rows) and
// gathers the logits of every rank's rows.
ValueId build_decoder_graph(Graph& g, const ModelConfig& config, const DecoderSpec& spec,
                            const DecoderWeights& w, const KvCache& cache, const StepInputs& in,
                            const ShardPlan* plan = nullptr, const DecoderGraphOptions& options = {});

}  // namespace autoglm

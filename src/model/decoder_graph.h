// Builds the forward graph of one step of a decoder-only transformer: tokens at positions
// [cache.n_filled, cache.n_filled + n) attend to the cache and to each other, their K/V are appended.
#pragma once

#include <cstdint>
#include <span>

#include "graph/graph.h"
#include "model/architecture.h"
#include "model/decoder_weights.h"
#include "model/kv_cache.h"

namespace autoglm {

struct StepInputs {
  TensorView ids;           // [n] i32
  TensorView positions;     // [n] i32
  int64_t n_past = 0;       // cache rows already filled
  bool all_logits = false;  // logits of every row instead of the last only
};

// Returns the logits value ([n or 1, vocab] f32), marked as the graph's output.
ValueId build_decoder_graph(Graph& g, const ModelConfig& config, const DecoderSpec& spec,
                            const DecoderWeights& w, const KvCache& cache, const StepInputs& in);

}  // namespace autoglm

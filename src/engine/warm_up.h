// Forward passes the serving engine runs once before taking requests, at the step sizes where its backend
// makes a choice per problem size (Backend::warm_up_rows: CUDA times its GEMM algorithms per row-count
// bucket), so that no served step pays for that choice.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "graph/executor.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace autoglm {

struct WarmUpLimits {
  int64_t max_seqs = 0;     // sequences per step
  int64_t max_context = 0;  // positions per sequence
  int64_t block_size = 0;   // KV slots per block
  int64_t n_blocks = 0;     // KV blocks the passes may write (all free: nothing is served yet)
};

// The sequence lengths of a warm-up pass of `rows` tokens: min(rows, max_seqs) sequences (more only if the
// context demands it) sharing the rows as evenly as possible, so the LM head runs at as many rows as a step
// can sample. Empty when their blocks do not fit in n_blocks.
std::vector<int64_t> warm_up_lengths(int64_t rows, const WarmUpLimits& limits);

// One forward pass per entry of `rows` (ascending) whose sequences fit, each sequence wanting logits, in
// blocks [0, ...) of `cache` (garbage afterwards, which is fine while no sequence owns a block); stops at the
// first that does not fit. Returns how many passes ran.
Expected<int64_t> warm_up_step_sizes(Model& model, Executor& executor, KvCache& cache, Backend& backend,
                                     std::span<const int64_t> rows, const WarmUpLimits& limits);

}  // namespace autoglm

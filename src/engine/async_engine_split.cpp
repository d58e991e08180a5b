// AsyncEngine: a step with decodes and prompt tokens as two forward passes at once
// (ServeOptions::split_mixed_steps).
//
// Why: such a step spends its time in two kinds of kernels that use different parts of a GPU. The decodes'
// attention streams their KV from memory (bound by HBM); the projections of the prompt rows keep the tensor
// cores busy. One pass runs them one after the other; two passes over disjoint rows, on two streams, let
// the GPU run one beside the other. The price: each pass streams the weights (the decodes' GEMMs read them
// once more), which the prompt pass's arithmetic mostly hides.
// How: the lane's stream first waits for everything queued on rank 0's (the step before, its chosen ids,
// this step's copy-on-write copies); the lane runs the decodes (a recorded decode batch) and chooses their
// ids into rows [0, decodes) of the step's choice buffer; rank 0 runs the rest and chooses rows
// [decodes, rows); rank 0's stream then waits for the lane's, so the ids' copy to the host and the next step
// see both. Each row is computed as it is alone (batch invariance), so the tokens are one pass's.
#include "engine/async_engine_impl.h"

namespace autoglm {

bool AsyncEngine::Impl::splits(const StepPlan& plan, const DeviceChoices* choices) const {
  if (!lane || choices == nullptr || choices->penalized || plan.n_decodes < options.split_min_decodes)
    return false;
  int64_t prompt_tokens = 0;
  for (size_t i = static_cast<size_t>(plan.n_decodes); i < plan.seqs.size(); ++i)
    prompt_tokens += plan.seqs[i].n_new_tokens;
  return prompt_tokens > 0 && prompt_tokens >= options.split_min_prompt_tokens;
}

Expected<TensorView> AsyncEngine::Impl::forward_split(const StepPlan& plan, std::span<const SequenceSlice> slices,
                                                      int buffer, const DeviceChoices& choices,
                                                      const TensorView& pending) {
  RankState& rank = ranks[0];
  Backend& main = group->backend(0);
  Backend& side = *lane->backend;
  const Model& m = group->model(0);
  const int64_t bs = options.kv_block_size;
  const auto n_decodes = static_cast<size_t>(plan.n_decodes);
  AUTOGLM_RETURN_IF_ERROR(reserve_choice_rows(main, rank, buffer, choices));
  AUTOGLM_RETURN_IF_ERROR(side.wait_for(main));
  const std::span<const SequenceSlice> decodes = slices.first(n_decodes), rest = slices.subspan(n_decodes);
  const int32_t pad_block = kv_manager->pool().n_blocks_total();
  const int64_t table_width = (max_context + bs - 1) / bs;
  Expected<TensorView> decoded =
      options.use_graphs ? m.forward_decode_batch_replayed(*lane->executor, lane->kv, bs, decodes, pad_block,
                                                           table_width, pending)
                         : m.forward_batch(*lane->executor, lane->kv, bs, decodes, pending);
  if (!decoded) return decoded.status();
  AUTOGLM_RETURN_IF_ERROR(choose_rows(side, rank, buffer, choices, 0, *decoded));
  main.set_gemm_sm_count(options.split_prompt_gemm_sms);
  Expected<TensorView> prompted = m.forward_batch(*rank.executor, rank.kv, bs, rest, pending);
  main.set_gemm_sm_count(0);
  if (!prompted) return prompted.status();
  if (prompted->shape[0] > 0)
    AUTOGLM_RETURN_IF_ERROR(choose_rows(main, rank, buffer, choices, static_cast<int64_t>(n_decodes), *prompted));
  AUTOGLM_RETURN_IF_ERROR(main.wait_for(side));
  return rank.choice_ids[buffer].view().rows(0, choices.n_rows);
}

}  // namespace autoglm

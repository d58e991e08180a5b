#include "model/decode_replay.h"

namespace autoglm {

bool Recording::valid_for(const Executor& executor, const Backend& backend) const {
  return work != nullptr && executor_id == executor.id() && arena_generation == executor.arena_generation() &&
         memory_generation == backend.memory_generation();
}

Expected<TensorView> run_and_record(Executor& executor, Backend& backend, const Graph& graph, ValueId logits,
                                    Recording* recording) {
  recording->work.reset();
  AUTOGLM_RETURN_IF_ERROR(executor.run(graph));
  const TensorView result = executor.value(graph, logits);
  if (!graph_is_replayable(graph)) return result;
  Expected<std::unique_ptr<CapturedWork>> work = backend.capture([&] { return executor.run(graph); });
  if (!work.has_value()) {
    if (work.status().code() == StatusCode::kUnsupported) return result;
    return work.status();
  }
  recording->work = std::move(work).value();
  recording->logits = executor.value(graph, logits);
  recording->executor_id = executor.id();
  recording->arena_generation = executor.arena_generation();
  recording->memory_generation = backend.memory_generation();
  return result;
}

int64_t decode_batch_bucket(int64_t n_seqs) {
  if (n_seqs <= 0) return 0;
  if (n_seqs <= 8) {
    int64_t b = 1;
    while (b < n_seqs)
      b *= 2;
    return b;
  }
  const int64_t step = n_seqs <= 64 ? 8 : n_seqs <= 128 ? 16 : 32;
  const int64_t bucket = (n_seqs + step - 1) / step * step;
  return bucket <= 512 ? bucket : 0;
}

bool graph_is_replayable(const Graph& graph) {
  for (const Node& node : graph.nodes()) {
    if (node.op == OpKind::kKvStore) return false;
    // attention(q, k_cache, v_cache, positions): without the positions input its query position is the
    // host-side attribute of the step that was recorded.
    if (node.op == OpKind::kAttention && (node.inputs.size() < 4 || !node.inputs[3].valid())) return false;
  }
  return true;
}

}  // namespace autoglm

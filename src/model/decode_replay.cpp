#include "model/decode_replay.h"

namespace autoglm {

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

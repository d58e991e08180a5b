#include "graph/pass.h"

#include <algorithm>

namespace autoglm {

Status PassManager::run(Graph& graph) const {
  for (const auto& pass : passes_) {
    Status s = pass->run(graph);
    if (!s.is_ok()) return s.with_context("pass " + pass->name());
  }
  return Status::ok();
}

Status DeadNodeElimination::run(Graph& graph) {
  std::vector<bool> live_value(graph.values().size(), false);
  auto mark_live = [&](ValueId v) {  // the value and every value its view chain stands on
    for (; v.valid(); v = graph.value(v).kind == ValueKind::kView ? graph.value(v).view_of : ValueId{}) {
      live_value[v.index] = true;
    }
  };
  for (ValueId out : graph.outputs())
    mark_live(out);
  auto& nodes = graph.mutable_nodes();
  std::vector<bool> keep(nodes.size(), false);
  // Walk backwards: a node is live if it writes state (op_writes_state, or no output at all) or produces a
  // live value; its inputs (and the values their views stand on) become live.
  for (size_t i = nodes.size(); i-- > 0;) {
    const Node& n = nodes[i];
    const bool live = op_writes_state(n.op) || !n.output.valid() || live_value[n.output.index];
    if (!live) continue;
    keep[i] = true;
    for (ValueId in : n.inputs)
      mark_live(in);
  }
  size_t w = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!keep[i]) continue;
    // Never self-move: a vector moved onto itself may come out empty (a kept first node lost its inputs).
    if (w != i) nodes[w] = std::move(nodes[i]);
    ++w;
  }
  nodes.resize(w);
  return Status::ok();
}

}  // namespace autoglm

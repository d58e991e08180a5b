#include "graph/lane_schedule.h"

#include <algorithm>

namespace autoglm {

LaneSchedule schedule_lanes(const Graph& graph, int available_lanes) {
  const auto& nodes = graph.nodes();
  const size_t n = nodes.size();
  LaneSchedule s;
  const int graph_lanes = graph.lane_count();
  s.lanes = graph_lanes > 1 && available_lanes >= graph_lanes ? graph_lanes : 1;
  const int lanes = s.lanes;
  s.lane.assign(n, 0);
  s.waits.assign(n, {});
  s.event.assign(n, -1);
  s.seen.assign(n * static_cast<size_t>(lanes), -1);
  s.last_of_lane.assign(static_cast<size_t>(lanes), -1);
  if (lanes > 1) s.fork_event = s.events++;

  const size_t n_values = graph.values().size();
  std::vector<int32_t> producer(n_values, -1), last_writer(n_values, -1);
  // knows[l][m]: what lane l knows of lane m so far (the last node of m finished before l's next node).
  std::vector<std::vector<int32_t>> knows(static_cast<size_t>(lanes), std::vector<int32_t>(lanes, -1));
  for (size_t i = 0; i < n; ++i) {
    const Node& node = nodes[i];
    const int l = lanes > 1 ? node.lane : 0;
    s.lane[i] = static_cast<uint8_t>(l);
    std::vector<int32_t>& known = knows[static_cast<size_t>(l)];
    auto depend_on = [&](int32_t p) {
      if (p < 0) return;
      const int m = s.lane[static_cast<size_t>(p)];
      if (m == l || known[static_cast<size_t>(m)] >= p) return;
      s.waits[i].push_back(p);
      if (s.event[static_cast<size_t>(p)] < 0) s.event[static_cast<size_t>(p)] = s.events++;
      for (int k = 0; k < lanes; ++k)
        known[static_cast<size_t>(k)] = std::max(known[static_cast<size_t>(k)], s.seen_at(p, k));
    };
    for (ValueId in : node.inputs) {
      if (!in.valid()) continue;
      const ValueId root = graph.storage_root(in);
      const ValueKind kind = graph.value(root).kind;
      if (kind == ValueKind::kIntermediate) depend_on(producer[static_cast<size_t>(root.index)]);
      if (kind == ValueKind::kState) depend_on(last_writer[static_cast<size_t>(root.index)]);
    }
    known[static_cast<size_t>(l)] = static_cast<int32_t>(i);
    std::copy(known.begin(), known.end(), s.seen.begin() + static_cast<ptrdiff_t>(i * lanes));
    if (node.output.valid()) producer[static_cast<size_t>(node.output.index)] = static_cast<int32_t>(i);
    if (op_writes_state(node.op)) {
      for (ValueId in : node.inputs) {
        if (!in.valid()) continue;
        const ValueId root = graph.storage_root(in);
        if (graph.value(root).kind == ValueKind::kState)
          last_writer[static_cast<size_t>(root.index)] = static_cast<int32_t>(i);
      }
    }
    s.last_of_lane[static_cast<size_t>(l)] = static_cast<int32_t>(i);
  }
  // Lane 0 ends the run waiting for the others.
  for (int l = 1; l < lanes; ++l) {
    const int32_t last = s.last_of_lane[static_cast<size_t>(l)];
    if (last >= 0 && s.event[static_cast<size_t>(last)] < 0) s.event[static_cast<size_t>(last)] = s.events++;
  }
  return s;
}

}  // namespace autoglm

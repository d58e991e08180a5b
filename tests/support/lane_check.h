// Checks of a graph's lane schedule and buffer plan against an order computed here from scratch: node a
// happens before node b when a path of same-lane program order and waits leads from a to b. Every
// dependency must be ordered so, and two intermediates sharing bytes must have every use of one ordered
// before the other is written.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph/buffer_plan.h"
#include "graph/graph.h"
#include "graph/lane_schedule.h"

namespace autoglm::test {

// reach[a][b]: a happens before b (or a == b).
inline std::vector<std::vector<bool>> happens_before(const LaneSchedule& s) {
  const size_t n = s.lane.size();
  std::vector<std::vector<size_t>> next(n);
  std::vector<int64_t> last(static_cast<size_t>(s.lanes), -1);
  for (size_t i = 0; i < n; ++i) {
    int64_t& prev = last[s.lane[i]];
    if (prev >= 0) next[static_cast<size_t>(prev)].push_back(i);
    prev = static_cast<int64_t>(i);
    for (int32_t w : s.waits[i])
      next[static_cast<size_t>(w)].push_back(i);
  }
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
  for (size_t a = n; a-- > 0;) {
    reach[a][a] = true;
    for (size_t b : next[a])
      for (size_t c = 0; c < n; ++c)
        if (reach[b][c]) reach[a][c] = true;
  }
  return reach;
}

inline void expect_lanes_safe(const Graph& g, const LaneSchedule& s, const BufferPlan& plan) {
  const auto& nodes = g.nodes();
  const auto reach = happens_before(s);
  std::vector<int64_t> producer(g.values().size(), -1), last_writer(g.values().size(), -1);
  std::vector<std::vector<size_t>> uses(g.values().size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (ValueId in : nodes[i].inputs) {
      if (!in.valid()) continue;
      const ValueId root = g.storage_root(in);
      const auto r = static_cast<size_t>(root.index);
      const int64_t p = g.value(root).kind == ValueKind::kState ? last_writer[r] : producer[r];
      if (p >= 0) {
        EXPECT_TRUE(reach[static_cast<size_t>(p)][i]) << "node " << i << " reads what node " << p << " wrote";
      }
      uses[r].push_back(i);
    }
    if (nodes[i].output.valid()) {
      producer[static_cast<size_t>(nodes[i].output.index)] = static_cast<int64_t>(i);
      uses[static_cast<size_t>(nodes[i].output.index)].push_back(i);
    }
    if (op_writes_state(nodes[i].op)) {
      for (ValueId in : nodes[i].inputs)
        if (in.valid() && g.value(g.storage_root(in)).kind == ValueKind::kState)
          last_writer[static_cast<size_t>(g.storage_root(in).index)] = static_cast<int64_t>(i);
    }
  }
  // Values in the arena, by their byte ranges.
  struct Placed {
    size_t value, begin, end, writer;
  };
  std::vector<Placed> placed;
  for (size_t v = 0; v < g.values().size(); ++v) {
    if (plan.offsets[v] < 0 || producer[v] < 0) continue;
    const size_t bytes = dtype_bytes(g.values()[v].dtype, g.values()[v].shape.numel());
    placed.push_back({v, static_cast<size_t>(plan.offsets[v]), static_cast<size_t>(plan.offsets[v]) + bytes,
                      static_cast<size_t>(producer[v])});
  }
  auto all_before = [&](size_t value, size_t writer) {
    for (size_t u : uses[value])
      if (!reach[u][writer]) return false;
    return true;
  };
  for (size_t i = 0; i < placed.size(); ++i) {
    for (size_t j = i + 1; j < placed.size(); ++j) {
      const Placed& a = placed[i];
      const Placed& b = placed[j];
      if (a.end <= b.begin || b.end <= a.begin) continue;
      EXPECT_TRUE(all_before(a.value, b.writer) || all_before(b.value, a.writer))
          << "values " << a.value << " and " << b.value << " share bytes while both may be in use";
    }
    EXPECT_LE(placed[i].end, plan.arena_bytes);
  }
  // The graph's outputs are read after the run: nothing written after them may share their bytes.
  for (ValueId out : g.outputs()) {
    const auto root = static_cast<size_t>(g.storage_root(out).index);
    for (const Placed& p : placed) {
      if (p.value == root) continue;
      for (const Placed& o : placed) {
        if (o.value == root && !(p.end <= o.begin || o.end <= p.begin)) {
          EXPECT_TRUE(all_before(p.value, o.writer)) << "value " << p.value << " overwrites an output";
        }
      }
    }
  }
}

}  // namespace autoglm::test

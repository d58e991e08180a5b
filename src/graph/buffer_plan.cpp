#include "graph/buffer_plan.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace autoglm {
namespace {

size_t aligned_size(const Value& v) {
  const size_t bytes = dtype_bytes(v.dtype, v.shape.numel());
  return std::max<size_t>(kArenaAlignment, (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment);
}

// First-fit free list over [offset, offset + size) ranges, coalescing neighbours on release.
class FreeList {
 public:
  size_t take(size_t size) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second >= size) {
        const size_t offset = it->first;
        const size_t rest = it->second - size;
        free_.erase(it);
        if (rest > 0) free_[offset + size] = rest;
        return offset;
      }
    }
    const size_t offset = end_;
    end_ += size;
    return offset;
  }

  void release(size_t offset, size_t size) {
    auto it = free_.emplace(offset, size).first;
    auto next = std::next(it);
    if (next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }

  size_t end() const { return end_; }

 private:
  std::map<size_t, size_t> free_;
  size_t end_ = 0;
};

}  // namespace

BufferPlan plan_buffers(const Graph& graph) {
  return plan_buffers(graph, schedule_lanes(graph, 1));
}

BufferPlan plan_buffers(const Graph& graph, const LaneSchedule& schedule) {
  const auto& values = graph.values();
  const auto& nodes = graph.nodes();
  const size_t lanes = static_cast<size_t>(schedule.lanes);
  BufferPlan plan;
  plan.offsets.assign(values.size(), -1);

  // The nodes using each storage root (its producer first, then its readers); graph outputs live to the end.
  std::vector<std::vector<int32_t>> uses(values.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ValueId out = nodes[i].output;
    if (out.valid()) uses[static_cast<size_t>(out.index)].push_back(static_cast<int32_t>(i));
    for (ValueId in : nodes[i].inputs) {
      if (in.valid())
        uses[static_cast<size_t>(graph.storage_root(in).index)].push_back(static_cast<int32_t>(i));
    }
  }
  std::vector<bool> kept(values.size(), false);
  for (ValueId out : graph.outputs())
    kept[static_cast<size_t>(graph.storage_root(out).index)] = true;

  // Each lane's nodes in graph order; along them what the lane knows of another (LaneSchedule::seen) only
  // grows, so the first of them to know a node finished is a binary search.
  std::vector<std::vector<int32_t>> lane_nodes(lanes);
  for (size_t i = 0; i < nodes.size(); ++i)
    lane_nodes[schedule.lane[i]].push_back(static_cast<int32_t>(i));
  auto first_knowing = [&](size_t lane, int32_t u) -> int32_t {
    const int other = schedule.lane[static_cast<size_t>(u)];
    const auto& own = lane_nodes[lane];
    const auto it = std::partition_point(own.begin(), own.end(), [&](int32_t i) {
      return schedule.seen_at(static_cast<size_t>(i), other) < u;
    });
    return it == own.end() ? -1 : *it;
  };
  // Where each value is released: after the first node of its producer's lane that comes after its uses on
  // that lane and knows every use on the others finished (its inputs are read until it ends; a value nobody
  // reads goes right after the node that wrote it). Never, for a use its lane never learns of.
  std::vector<std::vector<int32_t>> release_after(nodes.size());
  for (size_t p = 0; p < nodes.size(); ++p) {
    const ValueId out = nodes[p].output;
    if (!out.valid() || values[out.index].kind != ValueKind::kIntermediate || kept[out.index]) continue;
    const size_t lane = schedule.lane[p];
    int32_t release = static_cast<int32_t>(p);
    for (int32_t u : uses[static_cast<size_t>(out.index)]) {
      const int32_t known = schedule.lane[static_cast<size_t>(u)] == lane ? u : first_knowing(lane, u);
      if (known < 0) {
        release = -1;
        break;
      }
      release = std::max(release, known);
    }
    if (release >= 0) release_after[static_cast<size_t>(release)].push_back(out.index);
  }
  std::vector<FreeList> free_lists(lanes);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const size_t lane = schedule.lane[i];
    const ValueId out = nodes[i].output;
    if (out.valid() && values[out.index].kind == ValueKind::kIntermediate) {
      const size_t size = aligned_size(values[out.index]);
      plan.offsets[out.index] = static_cast<int64_t>(free_lists[lane].take(size));
      plan.total_bytes += size;
    }
    for (int32_t v : release_after[i])
      free_lists[lane].release(static_cast<size_t>(plan.offsets[v]), aligned_size(values[v]));
  }
  // The lanes' parts one after the other.
  std::vector<size_t> base(lanes, 0);
  for (size_t l = 1; l < lanes; ++l)
    base[l] = base[l - 1] + free_lists[l - 1].end();
  plan.arena_bytes = base[lanes - 1] + free_lists[lanes - 1].end();
  if (lanes > 1) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      const ValueId out = nodes[i].output;
      if (out.valid() && plan.offsets[out.index] >= 0)
        plan.offsets[out.index] += static_cast<int64_t>(base[schedule.lane[i]]);
    }
  }
  return plan;
}

}  // namespace autoglm

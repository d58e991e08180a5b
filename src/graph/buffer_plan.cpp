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

  // Whether lane l, at node i, knows every use of v finished (or queued ahead of it on l).
  auto done = [&](int32_t v, size_t i) {
    for (int32_t u : uses[static_cast<size_t>(v)]) {
      if (!schedule.ordered_before(static_cast<size_t>(u), i)) return false;
    }
    return true;
  };
  std::vector<FreeList> free_lists(lanes);
  std::vector<std::vector<int32_t>> pending(lanes);  // per lane: placed values not yet released
  for (size_t i = 0; i < nodes.size(); ++i) {
    const size_t lane = schedule.lane[i];
    const ValueId out = nodes[i].output;
    if (out.valid() && values[out.index].kind == ValueKind::kIntermediate) {
      const size_t size = aligned_size(values[out.index]);
      plan.offsets[out.index] = static_cast<int64_t>(free_lists[lane].take(size));
      plan.total_bytes += size;
      if (!kept[static_cast<size_t>(out.index)]) pending[lane].push_back(out.index);
    }
    // Released after the node: its inputs are read until it ends (a value nobody reads goes right after the
    // node that wrote it).
    auto& mine = pending[lane];
    for (size_t k = 0; k < mine.size();) {
      const int32_t v = mine[k];
      if (done(v, i)) {
        free_lists[lane].release(static_cast<size_t>(plan.offsets[v]), aligned_size(values[v]));
        mine[k] = mine.back();
        mine.pop_back();
      } else {
        ++k;
      }
    }
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

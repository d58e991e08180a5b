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
  const auto& values = graph.values();
  const auto& nodes = graph.nodes();
  BufferPlan plan;
  plan.offsets.assign(values.size(), -1);

  // Last node index that reads each storage root; graph outputs live to the end.
  std::vector<int64_t> last_use(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (ValueId in : nodes[i].inputs) {
      if (in.valid()) last_use[graph.storage_root(in).index] = static_cast<int64_t>(i);
    }
  }
  for (ValueId out : graph.outputs())
    last_use[graph.storage_root(out).index] = static_cast<int64_t>(nodes.size());

  FreeList free_list;
  std::vector<std::vector<int32_t>> release_after(nodes.size() + 1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ValueId out = nodes[i].output;
    if (out.valid() && values[out.index].kind == ValueKind::kIntermediate) {
      const size_t size = aligned_size(values[out.index]);
      plan.offsets[out.index] = static_cast<int64_t>(free_list.take(size));
      plan.total_bytes += size;
      // A value nobody reads is released right after the node that wrote it.
      const int64_t last = std::max<int64_t>(last_use[out.index], static_cast<int64_t>(i));
      release_after[last].push_back(out.index);
    }
    for (int32_t v : release_after[i]) {
      free_list.release(static_cast<size_t>(plan.offsets[v]), aligned_size(values[v]));
    }
  }
  plan.arena_bytes = free_list.end();
  return plan;
}

}  // namespace autoglm

// Offsets of the intermediates of a graph in one arena, reusing the memory of values no longer read.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"
#include "graph/lane_schedule.h"

namespace autoglm {

struct BufferPlan {
  std::vector<int64_t> offsets;  // per value; -1 for values that are not intermediates
  size_t arena_bytes = 0;        // the end of the highest buffer
  size_t total_bytes = 0;        // sum of all intermediates' sizes
};

// Alignment of each buffer: a cache line, also enough for every SIMD load.
constexpr size_t kArenaAlignment = 64;

BufferPlan plan_buffers(const Graph& graph);
// With several lanes each lane places what its nodes produce in its own part of the arena (parts one after
// the other), and a buffer is reused only once its lane knows that every node using it has finished
// (LaneSchedule::seen): a node of the same lane earlier in graph order, or one of another lane it waited for.
BufferPlan plan_buffers(const Graph& graph, const LaneSchedule& schedule);

}  // namespace autoglm

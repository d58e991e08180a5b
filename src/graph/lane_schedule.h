// How the nodes of a graph run on several lanes: in-order queues of one device that run beside each other
// (CUDA streams), so that a memory-bound kernel of one lane can share the GPU with a compute-bound one of
// the other (a split step: model/nano_batch.h).
//
// Each lane runs its nodes in graph order. A node waits for the nodes of other lanes it depends on: the
// producer of every intermediate it reads (or of the value a view of it stands on), and the last earlier
// writer of every bound state it reads or writes (KV caches). Only true dependencies are waited for: two
// nodes of different lanes writing or reading different rows of one cache (the halves of a split step write
// their own sequences' slots) may overlap; the builder of a lane-split graph guarantees that rows touched on
// one lane are not touched on the other before a dependency orders them.
//
// What a lane knows: each node carries, per lane, the last node of that lane known to have finished before
// it starts (through its waits, transitively, and its own lane's order). The buffer plan
// (graph/buffer_plan.h) reuses a buffer only once its lane knows every use of it finished.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"

namespace autoglm {

struct LaneSchedule {
  int lanes = 1;              // lanes that run nodes (1: every node in graph order on one queue)
  std::vector<uint8_t> lane;  // per node: its lane (0 for all where lanes == 1)
  std::vector<std::vector<int32_t>> waits;  // per node: nodes of other lanes it waits for
  std::vector<int32_t> event;  // per node: index of the event recorded after it (others wait on it), or -1
  int32_t events = 0;          // events the run records
  // With lanes > 1: the event lane 0 records before the first node, which every other lane waits for
  // before its own first one (nothing of this run overtakes the work queued before it).
  int32_t fork_event = -1;
  // seen[node * lanes + m]: the last node of lane m known finished (or, for the node's own lane, queued
  // ahead) when the node starts; -1 for none.
  std::vector<int32_t> seen;
  // Per lane > 0: the last node of the lane (lane 0 waits for its event at the end of the run), or -1.
  std::vector<int32_t> last_of_lane;

  int32_t seen_at(size_t node, int m) const { return seen[node * static_cast<size_t>(lanes) + m]; }
  // Whether node a is known finished (or queued ahead on the same lane) when node b starts.
  bool ordered_before(size_t a, size_t b) const {
    return a <= b && seen_at(b, lane[a]) >= static_cast<int32_t>(a);
  }
};

// The schedule of `graph` on a backend with `available_lanes` lanes: the graph's own lanes when the backend
// has as many, everything on lane 0 otherwise.
LaneSchedule schedule_lanes(const Graph& graph, int available_lanes);

}  // namespace autoglm

// Runs a Graph on a backend.
//
// Intermediates live in one arena owned by the executor and reused across runs: before each run a linear
// scan assigns every intermediate an offset (first fit over the free list), freeing a buffer after the last
// node that reads it or a view of it, so peak memory is the largest set of simultaneously live tensors, not
// their sum. The arena only grows; a decode step after a prefill reuses the prefill's memory.
//
// A graph whose nodes name several lanes runs them on as many of the backend's queues where it has them
// (Backend::lane_count; graph/lane_schedule.h): each node on its lane, after the events of the nodes of other
// lanes it depends on, and lane 0 waits for the others before run() returns, so callers see one queue.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "graph/graph.h"
#include "graph/lane_schedule.h"

namespace autoglm {

class Communicator;

struct ExecutorStats {
  size_t arena_bytes = 0;       // current arena size
  size_t last_peak_bytes = 0;   // peak live bytes of the last run
  size_t last_total_bytes = 0;  // sum of all intermediates of the last run (what no reuse would need)
  // With profiling on: wall time and calls per op kind, summed over all runs (indexed by OpKind).
  std::array<double, kOpKindCount> op_ms{};
  std::array<int64_t, kOpKindCount> op_calls{};
};

class Executor {
 public:
  explicit Executor(Backend& backend);

  // Executes every node in order. Outputs stay readable through value() until the next run.
  Status run(const Graph& graph);
  // The tensor of a value of the last run (bound, intermediate or view).
  TensorView value(const Graph& graph, ValueId id) const;

  const ExecutorStats& stats() const { return stats_; }
  // Times every node (synchronizing the backend after each, so device time lands on the right op).
  void set_profiling(bool on) { profiling_ = on; }
  // The tensor-parallel group the collectives of the graphs run through (all_reduce, all_gather_columns);
  // null: graphs with collectives fail. Not owned.
  void set_communicator(Communicator* communicator) { communicator_ = communicator; }
  bool profiling() const { return profiling_; }
  Backend& backend() { return backend_; }
  // Unique per executor for the process's lifetime, and a counter of arena reallocations: together they tell
  // whether work recorded on an earlier run still points at this executor's current memory.
  uint64_t id() const { return id_; }
  uint64_t arena_generation() const { return arena_generation_; }

 private:
  Status plan(const Graph& graph, const LaneSchedule& schedule);
  Status run_node(const Graph& graph, const Node& node);
  // own_sm_count: the backend's GEMM SM count outside this graph (lanes only).
  Status run_nodes(const Graph& graph, const LaneSchedule& schedule, int own_sm_count);

  Backend& backend_;
  Tensor arena_;
  std::vector<int64_t> offsets_;  // byte offset in the arena per value (intermediates only), -1 otherwise
  ExecutorStats stats_;
  bool profiling_ = false;
  Communicator* communicator_ = nullptr;
  uint64_t id_ = 0;
  uint64_t arena_generation_ = 0;
};

}  // namespace autoglm

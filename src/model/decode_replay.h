// A decode step (one token) recorded once per sequence and replayed for every later token on backends that
// record work (CUDA graphs). The recording points at fixed memory: the executor's arena, the backend's
// scratch, the KV cache, and the step inputs below, which each step overwrites before the replay. So a
// recording is valid only while none of those moved, and only for graphs whose kernels take everything
// that changes between steps from device memory (positions), never from host-side attributes.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "graph/graph.h"
#include "tensor/tensor.h"

namespace autoglm {

struct DecodeReplay {
  Tensor ids;        // [1] i32 on the device
  Tensor positions;  // [1] i32 on the device
  std::unique_ptr<CapturedWork> work;
  TensorView logits;  // where the replay leaves them
  uint64_t executor_id = 0;
  uint64_t arena_generation = 0;
  uint64_t memory_generation = 0;
};

// True when every node of the graph reads the step's changing values (token ids, positions, cache rows)
// from its input tensors: no kv_store with a host-side start row, and attention that takes its query
// position from the positions tensor.
bool graph_is_replayable(const Graph& graph);

}  // namespace autoglm

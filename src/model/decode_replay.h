// A decode step (one token) recorded once per sequence and replayed for every later token on backends that
// record work (CUDA graphs). The recording points at fixed memory: the executor's arena, the backend's
// scratch, the KV cache, and the step inputs below, which each step overwrites before the replay. So a
// recording is valid only while none of those moved, and only for graphs whose kernels take everything
// that changes between steps from device memory (positions), never from host-side attributes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "backend/backend.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "tensor/tensor.h"

namespace autoglm {

// Recorded work, where its replay leaves the logits, and the memory it points at.
struct Recording {
  std::unique_ptr<CapturedWork> work;
  TensorView logits;
  uint64_t executor_id = 0;
  uint64_t arena_generation = 0;
  uint64_t memory_generation = 0;

  // Recorded, and nothing it points at has moved since.
  bool valid_for(const Executor& executor, const Backend& backend) const;
};

// Runs the graph (this step's results, and the arena and scratch sized for it), then records the same run
// where the backend can record and the graph reads everything that changes from device memory; returns the
// logits of the run. Recording runs nothing: the arena does not move between the two (same graph, same
// plan), so the logits of the ordinary run stay where the replays will leave theirs.
Expected<TensorView> run_and_record(Executor& executor, Backend& backend, const Graph& graph, ValueId logits,
                                    Recording* recording);

struct DecodeReplay {
  Tensor ids;        // [1] i32 on the device
  Tensor positions;  // [1] i32 on the device
  Recording recording;
};

// Pure decode steps of the batched engine (one token per sequence), padded to a batch-size bucket and
// recorded once per bucket: the step's i32 inputs (model/batch_step.h layout, fixed table width) live in
// `packed`, which each step overwrites before the replay.
struct BatchDecodeReplay {
  Tensor packed;  // [layout size] i32 on the device
  int64_t layout_size = 0;
  Recording recording;  // logits [bucket, vocab]
};

struct BatchDecodeReplays {
  std::map<std::pair<int64_t, int64_t>, BatchDecodeReplay> by_shape;  // (batch bucket, block table width)
};

// The recorded batch size that serves n sequences: 1, 2, 4, 8, then multiples of 8 to 64, of 16 to 128, of
// 32 to 512 (padding costs little: decode matmuls stream the weights whatever the row count); 0 above 512.
int64_t decode_batch_bucket(int64_t n_seqs);

// True when every node of the graph reads the step's changing values (token ids, positions, cache rows)
// from its input tensors: no kv_store with a host-side start row, and attention that takes its query
// position from the positions tensor.
bool graph_is_replayable(const Graph& graph);

}  // namespace autoglm

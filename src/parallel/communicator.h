// The collectives a tensor-parallel rank needs, on tensors of its own backend. Every rank of the group calls
// the same collectives in the same order with the same shapes; a call returns once this rank's result is
// in place (for a device backend: queued on its stream, in order with the rank's other work).
//
// Implementations: LocalCommunicator (ranks as threads of one process over host memory: CPU tensor
// parallelism and the tests of the sharded model) and, on CUDA, one over NCCL.
#pragma once

#include "backend/backend.h"
#include "core/status.h"

namespace autoglm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // data (f32) becomes the sum of every rank's data, in place; every rank gets the same bits.
  virtual Status all_reduce_sum(TensorView data) = 0;
  // out [rows, world * cols] gets rank r's local [rows, cols] (f32) in columns [r * cols, (r + 1) * cols).
  virtual Status all_gather_columns(TensorView local, TensorView out) = 0;
  // For a rank that cannot reach the next collective (its step failed): every rank's pending and later
  // collectives of the group fail instead of waiting for it. The group is unusable afterwards. Any thread.
  virtual void abort() = 0;
};

}  // namespace autoglm

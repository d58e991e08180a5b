// A tensor-parallel group whose ranks are threads of one process and whose tensors are in host memory: CPU
// tensor parallelism, and the tests that hold a sharded model to the whole one. Each collective is two
// barriers: every rank publishes its buffer, all read what they need (sums in rank order, so every rank gets
// the same bits), then all may go on.
#pragma once

#include <barrier>
#include <memory>
#include <vector>

#include "parallel/communicator.h"

namespace autoglm {

class LocalGroup {
 public:
  explicit LocalGroup(int world);
  int world() const { return world_; }
  // The communicator of one rank; the group must outlive it. Each rank's communicator is used by one thread.
  std::unique_ptr<Communicator> communicator(int rank);

 private:
  friend class LocalCommunicator;
  struct Posted {
    const float* data = nullptr;
    int64_t numel = 0;
  };
  int world_;
  std::barrier<> barrier_;
  std::vector<Posted> posted_;  // slot r written by rank r between the barriers
};

}  // namespace autoglm

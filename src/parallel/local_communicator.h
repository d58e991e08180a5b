// A tensor-parallel group whose ranks are threads of one process and whose tensors are in host memory: CPU
// tensor parallelism, and the tests that hold a sharded model to the whole one. Each collective is two
// barriers: every rank publishes its buffer, all read what they need (sums in rank order, so every rank gets
// the same bits), then all may go on.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "parallel/communicator.h"

namespace autoglm {

class LocalGroup {
 public:
  explicit LocalGroup(int world);
  // The communicator of one rank; the group must outlive it. Each rank's communicator is used by one thread.
  std::unique_ptr<Communicator> communicator(int rank);
  // Every waiting and later collective fails (Communicator::abort).
  void abort();

 private:
  friend class LocalCommunicator;
  struct Posted {
    const float* data = nullptr;
    int64_t numel = 0;
  };
  // Waits until every rank has arrived at this barrier; false once the group is aborted.
  bool arrive_and_wait();

  int world_;
  std::mutex mutex_;
  std::condition_variable all_arrived_;
  int arrived_ = 0;
  uint64_t phase_ = 0;
  bool aborted_ = false;
  std::vector<Posted> posted_;  // slot r written by rank r between the barriers
};

}  // namespace autoglm

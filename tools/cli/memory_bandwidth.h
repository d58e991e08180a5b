// Measures the host's memory read bandwidth, the denominator of every CPU decode floor.
#pragma once

#include <cstddef>
#include <memory>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"

namespace autoglm::cli {

// Owns a buffer far larger than the last-level cache, its pages already touched, and the threads that read
// it, so that measurements can be taken repeatedly between other work (on a shared machine the bandwidth
// drifts; interleaving the probe with what it is compared to keeps the two under the same conditions).
class BandwidthProbe {
 public:
  BandwidthProbe(size_t bytes, int n_threads);
  bool ok() const { return data_ != nullptr; }
  // Best of `passes` full reads, in bytes per second.
  double measure(int passes = 3);

 private:
  AlignedPtr buffer_;
  float* data_ = nullptr;
  size_t n_ = 0;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace autoglm::cli

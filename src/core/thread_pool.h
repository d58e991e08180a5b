// A fixed pool of worker threads for data-parallel kernels.
//
// parallel_for splits [0, n) into one contiguous range per thread and blocks until all are done. The caller's
// thread takes part. Workers spin briefly on an atomic generation counter before sleeping, because decode
// runs ~100 short parallel regions per token and a condition-variable wake-up per region would cost more than
// the work of the small ones. Not re-entrant: a task must not call parallel_for on the same pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace autoglm {

class ThreadPool {
 public:
  // n_threads counts the caller: 1 means no workers, everything runs inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // fn(begin, end, thread_index) for disjoint ranges covering [0, n); ranges are multiples of `grain`
  // (except the last) so vectorized kernels can keep aligned blocks.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1);

  // The pool that kernels use when the caller does not pass one; sized by set_default_threads or
  // hardware_concurrency.
  static ThreadPool& global();
  static void set_default_threads(int n_threads);

 private:
  void worker_loop(int index);
  void run_share(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t, int)>* task_ = nullptr;
  int64_t task_n_ = 0;
  int64_t task_grain_ = 1;
};

}  // namespace autoglm

#include "core/thread_pool.h"

#include <algorithm>
#include <memory>

namespace autoglm {
namespace {

// Spin (with pause) this many rounds before yielding the core, and workers this many before sleeping: long
// enough to catch the next region of a decode step, short enough not to starve other processes.
constexpr int kSpinBeforeYield = 2000;
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

std::mutex g_global_mutex;
std::unique_ptr<ThreadPool> g_global_pool;
int g_default_threads = 0;

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i)
    workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void ThreadPool::run_share(int index) {
  const int64_t blocks = (task_n_ + task_grain_ - 1) / task_grain_;
  const int64_t per = blocks / n_threads_;
  const int64_t extra = blocks % n_threads_;
  const int64_t first = index * per + std::min<int64_t>(index, extra);
  const int64_t count = per + (index < extra ? 1 : 0);
  const int64_t begin = first * task_grain_;
  const int64_t end = std::min(task_n_, (first + count) * task_grain_);
  if (begin < end) (*task_)(begin, end, index);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      if (++spins > kSpinBeforeYield) {
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    run_share(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                              int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  task_ = &fn;
  task_n_ = n;
  task_grain_ = grain;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  run_share(0);
  // The workers may be descheduled (more threads than free cores): after a short spin, give the core away.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0;) {
    if (++spins > kSpinBeforeYield) {
      std::this_thread::yield();
    } else {
      cpu_relax();
    }
  }
  task_ = nullptr;
}

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lock(g_global_mutex);
  if (!g_global_pool) {
    int n = g_default_threads > 0 ? g_default_threads : static_cast<int>(std::thread::hardware_concurrency());
    g_global_pool = std::make_unique<ThreadPool>(n);
  }
  return *g_global_pool;
}

void ThreadPool::set_default_threads(int n_threads) {
  std::lock_guard<std::mutex> lock(g_global_mutex);
  g_default_threads = n_threads;
  g_global_pool.reset();
}

}  // namespace autoglm

// core/thread_pool.h: coverage and shape of parallel_for's ranges, many short regions, and clean shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/thread_pool.h"

namespace autoglm {
namespace {

struct Range {
  int64_t begin, end;
  int thread_index;
};

// Runs one parallel_for and checks every property the kernels rely on.
void check_cover(ThreadPool& pool, int64_t n, int64_t grain) {
  SCOPED_TRACE("threads " + std::to_string(pool.n_threads()) + " n " + std::to_string(n) + " grain " +
               std::to_string(grain));
  std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::mutex mutex;
  std::vector<Range> ranges;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> index0_elsewhere{false};
  pool.parallel_for(
      n,
      [&](int64_t begin, int64_t end, int thread_index) {
        for (int64_t i = begin; i < end; ++i)
          hits[static_cast<size_t>(i)].fetch_add(1);
        if (thread_index == 0 && std::this_thread::get_id() != caller) index0_elsewhere = true;
        std::lock_guard<std::mutex> lock(mutex);
        ranges.push_back({begin, end, thread_index});
      },
      grain);

  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "index " << i;
  EXPECT_FALSE(index0_elsewhere) << "thread index 0 is the caller's share";
  std::vector<int> seen(static_cast<size_t>(pool.n_threads()), 0);
  for (const Range& r : ranges) {
    EXPECT_LT(r.begin, r.end) << "empty range handed out";
    EXPECT_EQ(r.begin % std::max<int64_t>(grain, 1), 0) << "range start " << r.begin << " not grain-aligned";
    ASSERT_GE(r.thread_index, 0);
    ASSERT_LT(r.thread_index, pool.n_threads());
    EXPECT_EQ(++seen[static_cast<size_t>(r.thread_index)], 1)
        << "thread " << r.thread_index << " got two ranges";
  }
  // Ranges are ordered by thread index, so a thread's share is one contiguous slab.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LT(ranges[i - 1].thread_index, ranges[i].thread_index);
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (const int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.n_threads(), threads);
    for (const int64_t n : {0, 1, 2, 3, 5, 7, 8, 31, 64, 100, 1000, 4097}) {
      for (const int64_t grain : {1, 2, 3, 4, 8, 16, 64, 1000, 5000})
        check_cover(pool, n, grain);
    }
  }
}

TEST(ThreadPool, HandlesFewerItemsThanThreads) {
  ThreadPool pool(8);
  for (const int64_t n : {1, 2, 3, 7})
    check_cover(pool, n, 1);
}

TEST(ThreadPool, TreatsNonPositiveGrainAsOne) {
  ThreadPool pool(3);
  check_cover(pool, 50, 0);
  check_cover(pool, 50, -4);
}

TEST(ThreadPool, ClampsThreadCountToOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.n_threads(), 1);
  check_cover(pool, 10, 1);
}

TEST(ThreadPool, RunsManySmallRegions) {
  // 10,000 regions with one thread per core of the CI machine; fewer oversubscribed, where each region waits
  // on descheduled spinning threads and costs far more.
  for (const auto& [threads, regions] : {std::pair{2, 10000}, std::pair{4, 500}}) {
    ThreadPool pool(threads);
    std::atomic<int64_t> total{0};
    for (int r = 0; r < regions; ++r) {
      pool.parallel_for(
          16,
          [&](int64_t begin, int64_t end, int) { total.fetch_add(end - begin, std::memory_order_relaxed); },
          1);
    }
    EXPECT_EQ(total.load(), int64_t{16} * regions);
  }
}

TEST(ThreadPool, ResultsAreVisibleToTheCallerAfterReturn) {
  ThreadPool pool(4);
  std::vector<int64_t> out(100000);  // plain writes: parallel_for must publish them
  for (int round = 0; round < 50; ++round) {
    pool.parallel_for(
        static_cast<int64_t>(out.size()),
        [&](int64_t begin, int64_t end, int) {
          for (int64_t i = begin; i < end; ++i)
            out[static_cast<size_t>(i)] = i * round;
        },
        64);
    for (size_t i = 0; i < out.size(); i += 997)
      ASSERT_EQ(out[i], static_cast<int64_t>(i) * round);
  }
}

int process_threads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(ThreadPool, DestructorJoinsItsWorkers) {
  // Pools destroyed idle, right after construction, after work, and while workers are still spinning.
  for (int i = 0; i < 200; ++i) {
    ThreadPool pool(3);
    if (i % 2 == 0)
      pool.parallel_for(
          30, [](int64_t, int64_t, int) {}, 1);
  }
  const int before = process_threads();
  if (before < 0) GTEST_SKIP() << "no /proc/self/status";
  {
    ThreadPool pool(5);
    std::atomic<int> calls{0};
    pool.parallel_for(
        5, [&](int64_t, int64_t, int) { calls.fetch_add(1); }, 1);
    EXPECT_EQ(calls.load(), 5);
    EXPECT_EQ(process_threads(), before + 4);
  }
  // A joined thread may linger in /proc for a moment after pthread_join returns.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (process_threads() != before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(process_threads(), before);
}

}  // namespace
}  // namespace autoglm

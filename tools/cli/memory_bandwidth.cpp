#include "cli/memory_bandwidth.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "core/timer.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace autoglm::cli {
namespace {

// Four independent 16-byte accumulators keep enough loads in flight to saturate a core's memory bandwidth.
float sum_floats(const float* p, size_t n) {
#if defined(__x86_64__)
  __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm_add_ps(a0, _mm_load_ps(p + i));
    a1 = _mm_add_ps(a1, _mm_load_ps(p + i + 4));
    a2 = _mm_add_ps(a2, _mm_load_ps(p + i + 8));
    a3 = _mm_add_ps(a3, _mm_load_ps(p + i + 12));
  }
  float lanes[4];
  _mm_storeu_ps(lanes, _mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
  float s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) s += p[i];
  return s;
#else
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
#endif
}

}  // namespace

double measure_read_bandwidth(size_t bytes, int n_threads, int repeats) {
  const size_t n = bytes / sizeof(float) / 64 * 64;
  AlignedPtr buffer = aligned_alloc_bytes(n * sizeof(float));
  if (!buffer) return 0;
  float* data = static_cast<float*>(buffer.get());
  ThreadPool pool(n_threads);
  // Touch every page from the threads that will read it, so the pages exist and sit near those threads.
  pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) data[i] = 1.0f;
  }, 1 << 16);
  double best = 0;
  std::vector<float> sums(static_cast<size_t>(n_threads));
  for (int r = 0; r < repeats; ++r) {
    Timer timer;
    pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int t) {
      sums[t] += sum_floats(data + b, static_cast<size_t>(e - b));
    }, 1 << 16);
    const double seconds = timer.elapsed_ms() / 1000.0;
    best = std::max(best, static_cast<double>(n * sizeof(float)) / seconds);
  }
  volatile float sink = sums[0];  // keeps the sums observable
  (void)sink;
  return best;
}

}  // namespace autoglm::cli

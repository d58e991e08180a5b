#include "cli/memory_bandwidth.h"

#include <algorithm>
#include <vector>

#include "core/timer.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace autoglm::cli {
namespace {

float sum_floats_scalar(const float* p, size_t n) {
  float s[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j)
      s[j] += p[i + j];
  }
  for (; i < n; ++i)
    s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

#if defined(__x86_64__)
// 32-byte loads into four independent accumulators: as wide as the matmul kernels' loads, so the probe's
// ceiling is one the kernels can reach.
__attribute__((target("avx2"))) float sum_floats_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
         a3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float l : lanes)
    s += l;
  return s + sum_floats_scalar(p + i, n - i);
}
#endif

float sum_floats(const float* p, size_t n) {
#if defined(__x86_64__)
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2) return sum_floats_avx2(p, n);
#endif
  return sum_floats_scalar(p, n);
}

}  // namespace

BandwidthProbe::BandwidthProbe(size_t bytes, int n_threads) {
  n_ = bytes / sizeof(float) / 64 * 64;
  buffer_ = aligned_alloc_bytes(n_ * sizeof(float));
  if (!buffer_) return;
  data_ = static_cast<float*>(buffer_.get());
  pool_ = std::make_unique<ThreadPool>(n_threads);
  // Touch every page from the thread that will read it.
  pool_->parallel_for(
      static_cast<int64_t>(n_), [&](int64_t b, int64_t e, int) { std::fill(data_ + b, data_ + e, 1.0f); },
      1 << 16);
}

double BandwidthProbe::measure(int passes) {
  if (!ok()) return 0;
  double best = 0;
  std::vector<float> sums(static_cast<size_t>(pool_->n_threads()));
  for (int r = 0; r < passes; ++r) {
    Timer timer;
    pool_->parallel_for(
        static_cast<int64_t>(n_),
        [&](int64_t b, int64_t e, int t) { sums[t] += sum_floats(data_ + b, static_cast<size_t>(e - b)); },
        1 << 16);
    best = std::max(best, static_cast<double>(n_ * sizeof(float)) / (timer.elapsed_ms() / 1000.0));
  }
  volatile float sink = sums[0];  // keeps the sums observable
  (void)sink;
  return best;
}

}  // namespace autoglm::cli

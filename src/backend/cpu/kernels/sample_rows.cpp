// Row-wise sampling, f32, CPU (ops/sample_rows.h): the reference the CUDA kernel is tested against, and the
// same algorithm (top-k threshold by bisection on ordered float keys, which the CUDA kernel finishes in
// shared memory to the same key; nucleus threshold by bisection on the float bits of the probabilities, step
// for step; inverse CDF in id order; the rules shared through backend/sampling_rules.h). Rows split over the
// pool. Floor: about 32 passes over each row when top_p < 1 (rows * c * 4 bytes each), about 32 more over the
// keys with top_k, else 3.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/argmax_row.h"
#include "backend/sampling_rules.h"
#include "ops/kernel_table.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

using sampling_rules::bits_of;
using sampling_rules::float_of;

constexpr float kInf = std::numeric_limits<float>::infinity();

int32_t sample_row(const float* x, int64_t c, float temperature, float top_p, float min_p, float uniform,
                   float top_k_param) {
  const int32_t best = argmax_row(x, c);
  const float max_value = x[best];
  // Greedy, or nothing to draw from (every logit NaN or -inf: argmax_row gave 0).
  if (!(temperature > 0.0f) || !(max_value > -kInf)) return best;
  if (max_value == kInf) {
    int64_t count = 0;
    for (int64_t i = 0; i < c; ++i)
      count += x[i] == kInf;
    int64_t rank = std::min<int64_t>(count - 1, static_cast<int64_t>(uniform * static_cast<float>(count)));
    for (int64_t i = 0; i < c; ++i) {
      if (x[i] == kInf && rank-- == 0) return static_cast<int32_t>(i);
    }
  }
  // Top-k: the keys computed once (the passes of the search then compare integers); tokens below the k-th
  // largest key have p = 0. kth_key 0 masks nothing (every key is above it).
  const int64_t top_k = sampling_rules::effective_top_k(top_k_param, c);
  thread_local std::vector<uint32_t> keys;
  uint32_t kth_key = 0;
  if (top_k > 0) {
    keys.resize(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i)
      keys[i] = sampling_rules::top_k_key(x[i], temperature);
    kth_key = sampling_rules::kth_largest_key(top_k, sampling_rules::top_k_key(max_value, temperature),
                                              [&](uint32_t key) {
                                                int64_t n = 0;
                                                for (int64_t i = 0; i < c; ++i)
                                                  n += keys[i] >= key;
                                                return n;
                                              });
  }
  auto p = [&](int64_t i) {
    const float v = x[i];
    if (kth_key != 0 && keys[i] < kth_key) return 0.0f;
    return v > -kInf ? std::exp((v - max_value) / temperature) : 0.0f;  // NaN compares false: 0
  };
  auto mass_at_least = [&](float t) {
    double sum = 0;
    for (int64_t i = 0; i < c; ++i) {
      const float q = p(i);
      if (q >= t) sum += q;
    }
    return sum;
  };
  float threshold = 0.0f;
  if (top_p < 1.0f) {
    const double target = static_cast<double>(top_p) * mass_at_least(0.0f);
    // mass_at_least falls as t rises; find the largest t (as ordered float bits in [0, 1]) still >= target.
    threshold = float_of(sampling_rules::last_holding(
        0, bits_of(1.0f), [&](uint32_t t) { return mass_at_least(float_of(t)) >= target; }));
  }
  threshold = std::max(threshold, min_p);
  auto kept = [&](int64_t i) {
    const float q = p(i);
    return q > 0.0f && q >= threshold ? q : 0.0f;
  };
  double total = 0;
  for (int64_t i = 0; i < c; ++i)
    total += kept(i);
  const double target = static_cast<double>(uniform) * total;
  double cumulative = 0;
  int64_t last = best;
  for (int64_t i = 0; i < c; ++i) {
    const float q = kept(i);
    if (q <= 0.0f) continue;
    last = i;
    cumulative += q;
    if (cumulative > target) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);
}

void sample_rows_cpu_f32(Backend& backend, const SampleRowsArgs& a) {
  const int64_t rows = a.logits.shape[0], c = a.logits.shape[1];
  const float* x = a.logits.as<const float>();
  const float* params = a.params.as<const float>();
  int32_t* out = a.out.as<int32_t>();
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r) {
          const float* q = params + r * kSampleRowsParams;
          out[r] = sample_row(x + r * c, c, q[0], q[1], q[2], q[3], q[4]);
        }
      },
      1);
}

const KernelRegistrar<SampleRowsArgs> kRegister(DeviceKind::kCpu, DType::kF32, sample_rows_cpu_f32);

}  // namespace
}  // namespace autoglm

// Row-wise sampling, f32, CPU (ops/sample_rows.h): the reference the CUDA kernel is tested against, and the
// same algorithm step for step (threshold search on the float bits of the probabilities, inverse CDF in id
// order). Rows split over the pool.
// Floor: about 32 passes over each row when top_p < 1 (rows * c * 4 bytes each), else 3.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/argmax_row.h"
#include "ops/kernel_table.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

int32_t sample_row(const float* x, int64_t c, float temperature, float top_p, float min_p, float uniform) {
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
  auto p = [&](int64_t i) {
    const float v = x[i];
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
    uint32_t lo = 0, hi = bits_of(1.0f);
    if (mass_at_least(1.0f) >= target) {
      lo = hi;
    } else {
      while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (mass_at_least(float_of(mid)) >= target) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
    }
    threshold = float_of(lo);
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
          const float* q = params + r * 4;
          out[r] = sample_row(x + r * c, c, q[0], q[1], q[2], q[3]);
        }
      },
      1);
}

const KernelRegistrar<SampleRowsArgs> kRegister(DeviceKind::kCpu, DType::kF32, sample_rows_cpu_f32);

}  // namespace
}  // namespace autoglm

// Row-wise softmax, f32, CPU: out = exp(x - max) / sum(exp(x - max)).
//
// Layout: x and out are [rows, c] row-major (leading dims flattened); out may be x.
// Threading: rows split over the pool in blocks of >= kMinElemsPerTask elements; a single row (sampling over
//   the vocabulary) runs inline.
// Accumulation: exp in f32, the sum of exps in double; the max subtraction keeps every exp in (0, 1]. A row
// of
//   all -inf yields NaN, as PyTorch does. Only the final scaling vectorizes: g++ will not vectorize a float
//   max or expf without -ffast-math, and the scalar expf calls (a few ns each) dominate the row anyway.
// Floor: 2 * rows * c * 4 bytes / memory bandwidth, in practice rows * c expf calls.
// Reference: ref/softmax_ref.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "ops/kernel_table.h"
#include "ops/softmax.h"

namespace autoglm {
namespace {

constexpr int64_t kMinElemsPerTask = 16384;

float row_max(const float* x, int64_t c) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < c; ++i)
    m = std::max(m, x[i]);
  return m;
}

void softmax_row(const float* x, float* out, int64_t c) {
  const float m = row_max(x, c);
  double sum = 0;
  for (int64_t i = 0; i < c; ++i) {
    out[i] = std::exp(x[i] - m);
    sum += out[i];
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < c; ++i)
    out[i] *= inv_sum;
}

void softmax_cpu_f32(Backend& backend, const SoftmaxArgs& a) {
  const int64_t c = a.x.shape.back();
  if (c == 0) return;
  const float* x = a.x.as<const float>();
  float* out = a.out.as<float>();
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / c);
  cpu_pool(backend).parallel_for(
      a.x.shape.rows(),
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r)
          softmax_row(x + r * c, out + r * c, c);
      },
      grain);
}

const KernelRegistrar<SoftmaxArgs> kRegister(DeviceKind::kCpu, DType::kF32, softmax_cpu_f32);

}  // namespace
}  // namespace autoglm

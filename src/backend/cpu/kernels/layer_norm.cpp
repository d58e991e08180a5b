// LayerNorm, f32, CPU: out = (x - mean) / sqrt(var + eps) * weight (+ bias), biased variance as PyTorch.
//
// Layout: x and out are [rows, d] row-major (any leading dims flattened); weight and bias are [d]. out may be
// x. Threading: rows split over the pool in blocks of >= kMinElemsPerTask elements; one row runs inline.
// Accumulation: two passes (mean, then squared deviations) so a large mean does not cancel the variance, both
//   on x - x[0] so a large common offset does not swamp the f32 sums; each pass sums in kLanes independent
//   f32 lanes (vectorizable without -ffast-math), combined in double.
// Floor: 2 * rows * d * 4 bytes (read x, write out) / memory bandwidth; the second read hits cache.
// Reference: ref/layer_norm_ref.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "ops/kernel_table.h"
#include "ops/layer_norm.h"

namespace autoglm {
namespace {

constexpr int kLanes = 16;
constexpr int64_t kMinElemsPerTask = 16384;

// sum(x - pivot): shifting by a value of the row keeps the f32 lanes summing small numbers when the row has
// a large common offset, where a plain f32 sum would lose the mean.
double shifted_sum(const float* x, float pivot, int64_t d) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (int l = 0; l < kLanes; ++l)
      lanes[l] += x[i + l] - pivot;
  }
  double sum = 0;
  for (; i < d; ++i)
    sum += x[i] - pivot;
  for (int l = 0; l < kLanes; ++l)
    sum += lanes[l];
  return sum;
}

// sum((x - pivot - delta)^2), delta = mean - pivot.
double squared_deviation(const float* x, float pivot, float delta, int64_t d) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float dev = (x[i + l] - pivot) - delta;
      lanes[l] += dev * dev;
    }
  }
  double sum = 0;
  for (; i < d; ++i) {
    const double dev = static_cast<double>(x[i] - pivot) - delta;
    sum += dev * dev;
  }
  for (int l = 0; l < kLanes; ++l)
    sum += lanes[l];
  return sum;
}

void normalize_row(const LayerNormArgs& a, const float* x, float* out) {
  const int64_t d = a.x.shape.back();
  const float* weight = a.weight.as<const float>();
  const float* bias = a.bias.as<const float>();
  const float pivot = x[0];
  const float delta = static_cast<float>(shifted_sum(x, pivot, d) / static_cast<double>(d));
  const double var = squared_deviation(x, pivot, delta, d) / static_cast<double>(d);
  const float inv_std = static_cast<float>(1.0 / std::sqrt(var + a.eps));
  if (bias != nullptr) {
    for (int64_t i = 0; i < d; ++i)
      out[i] = ((x[i] - pivot) - delta) * inv_std * weight[i] + bias[i];
  } else {
    for (int64_t i = 0; i < d; ++i)
      out[i] = ((x[i] - pivot) - delta) * inv_std * weight[i];
  }
}

void layer_norm_cpu_f32(Backend& backend, const LayerNormArgs& a) {
  const int64_t d = a.x.shape.back();
  if (d == 0) return;
  const int64_t rows = a.x.shape.rows();
  const float* x = a.x.as<const float>();
  float* out = a.out.as<float>();
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / d);
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r)
          normalize_row(a, x + r * d, out + r * d);
      },
      grain);
}

const KernelRegistrar<LayerNormArgs> kRegister(DeviceKind::kCpu, DType::kF32, layer_norm_cpu_f32);

}  // namespace
}  // namespace autoglm

// RMSNorm, f32, CPU: out = weight * (x * 1 / sqrt(mean(x^2) + eps)) row by row (HF Llama order of
// operations).
//
// Layout: x and out are [rows, d] row-major (any leading dims flattened); weight is [d]. out may be x. out
// f32,
//   or bf16 / f16 rounded to nearest-even from the f32 result.
//   With a residual, each row's x + residual goes to sum_out first and is normalized from there.
// Threading: rows split over the pool in blocks of >= kMinElemsPerTask elements; a decode step (one row)
//   runs inline because a wake-up costs more than normalizing 4096 floats.
// Accumulation: the sum of squares runs in kLanes independent f32 lanes (so -O3 vectorizes it without
//   -ffast-math), combined in double; the scale is applied in f32.
// Floor: 2 * rows * d * 4 bytes (read x, write out) / memory bandwidth.
// Reference: ref/rms_norm_ref.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "ops/kernel_table.h"
#include "ops/rms_norm.h"

namespace autoglm {
namespace {

constexpr int kLanes = 16;
constexpr int64_t kMinElemsPerTask = 16384;

double sum_of_squares(const float* x, int64_t d) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (int l = 0; l < kLanes; ++l)
      lanes[l] += x[i + l] * x[i + l];
  }
  double sum = 0;
  for (; i < d; ++i)
    sum += static_cast<double>(x[i]) * x[i];
  for (int l = 0; l < kLanes; ++l)
    sum += lanes[l];
  return sum;
}

// One normalized value stored in out's type: f32, or rounded to nearest-even bf16 / f16.
template <DType kOut>
void store(void* out, int64_t i, float v) {
  if constexpr (kOut == DType::kF32) {
    static_cast<float*>(out)[i] = v;
  } else if constexpr (kOut == DType::kBF16) {
    static_cast<uint16_t*>(out)[i] = f32_to_bf16(v);
  } else {
    static_cast<uint16_t*>(out)[i] = f32_to_f16(v);
  }
}

// out points at the row's first element.
template <DType kOut>
void normalize_row(const float* x, const float* weight, float eps, int64_t d, void* out) {
  const double mean_square = sum_of_squares(x, d) / static_cast<double>(d);
  const float inv_rms = static_cast<float>(1.0 / std::sqrt(mean_square + eps));
  for (int64_t i = 0; i < d; ++i)
    store<kOut>(out, i, weight[i] * (x[i] * inv_rms));
}

template <DType kOut>
void rms_norm_rows(Backend& backend, const RmsNormArgs& a) {
  const int64_t d = a.x.shape.back();
  if (d == 0) return;
  const int64_t rows = a.x.shape.rows();
  const float* x = a.x.as<const float>();
  const float* residual = a.residual.as<const float>();
  float* sum = a.sum_out.as<float>();
  const float* weight = a.weight.as<const float>();
  auto* out = static_cast<uint8_t*>(a.out.data);
  const size_t out_row_bytes = dtype_bytes(kOut, d);
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / d);
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r) {
          if (residual == nullptr) {
            normalize_row<kOut>(x + r * d, weight, a.eps, d, out + r * out_row_bytes);
            continue;
          }
          // The add's own f32 sums, then the norm of them: the bits of add followed by rms_norm.
          for (int64_t i = 0; i < d; ++i)
            sum[r * d + i] = x[r * d + i] + residual[r * d + i];
          normalize_row<kOut>(sum + r * d, weight, a.eps, d, out + r * out_row_bytes);
        }
      },
      grain);
}

void rms_norm_cpu_f32(Backend& backend, const RmsNormArgs& a) {
  if (a.out.dtype == DType::kBF16) {
    rms_norm_rows<DType::kBF16>(backend, a);
  } else if (a.out.dtype == DType::kF16) {
    rms_norm_rows<DType::kF16>(backend, a);
  } else {
    rms_norm_rows<DType::kF32>(backend, a);
  }
}

const KernelRegistrar<RmsNormArgs> kRegister(DeviceKind::kCpu, DType::kF32, rms_norm_cpu_f32);

}  // namespace
}  // namespace autoglm

// RMSNorm, f32, CPU: out = weight * (x * 1 / sqrt(mean(x^2) + eps)) row by row (HF Llama order of
// operations).
//
// Layout: x and out are [rows, d] row-major (any leading dims flattened); weight is [d]. out may be x. out is
//   f32, or bf16 / f16 rounded to nearest-even from the f32 result.
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
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/kernel_table.h"
#include "ops/rms_norm.h"
#include "tensor/quant_blocks.h"

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

void normalize_row(const float* x, const float* weight, float eps, int64_t d, float* out) {
  const double mean_square = sum_of_squares(x, d) / static_cast<double>(d);
  const float inv_rms = static_cast<float>(1.0 / std::sqrt(mean_square + eps));
  for (int64_t i = 0; i < d; ++i)
    out[i] = weight[i] * (x[i] * inv_rms);
}

void rms_norm_cpu_f32(Backend& backend, const RmsNormArgs& a) {
  const int64_t d = a.x.shape.back();
  if (d == 0) return;
  const int64_t rows = a.x.shape.rows();
  const float* x = a.x.as<const float>();
  const float* residual = a.residual.as<const float>();
  float* sum = a.sum_out.as<float>();
  const float* weight = a.weight.as<const float>();
  auto* out = static_cast<uint8_t*>(a.out.data);
  const size_t out_row_bytes = dtype_bytes(a.out.dtype, d);
  const bool wide_out = a.out.dtype == DType::kF32;
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / d);
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t begin, int64_t end, int) {
        // A 16-bit out is normalized in f32 first, then rounded to nearest-even (quantize_row).
        std::vector<float> row(wide_out ? 0 : static_cast<size_t>(d));
        for (int64_t r = begin; r < end; ++r) {
          const float* src = x + r * d;
          if (residual != nullptr) {
            // The add's own f32 sums, then the norm of them: the bits of add followed by rms_norm.
            for (int64_t i = 0; i < d; ++i)
              sum[r * d + i] = x[r * d + i] + residual[r * d + i];
            src = sum + r * d;
          }
          uint8_t* dst = out + r * out_row_bytes;
          if (wide_out) {
            normalize_row(src, weight, a.eps, d, reinterpret_cast<float*>(dst));
          } else {
            normalize_row(src, weight, a.eps, d, row.data());
            (void)quantize_row(a.out.dtype, row.data(), dst, d);  // f16 / bf16: cannot fail
          }
        }
      },
      grain);
}

const KernelRegistrar<RmsNormArgs> kRegister(DeviceKind::kCpu, DType::kF32, rms_norm_cpu_f32);

}  // namespace
}  // namespace autoglm

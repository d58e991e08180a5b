#include "backend/cpu/kernels/ref/matmul_ref.h"

#include <cstdint>

#include "core/half.h"

namespace autoglm {
namespace {

double weight_at(const TensorView& w, int64_t index) {
  switch (w.dtype) {
    case DType::kF32:
      return w.as<const float>()[index];
    case DType::kF16:
      return f16_to_f32(w.as<const uint16_t>()[index]);
    case DType::kBF16:
      return bf16_to_f32(w.as<const uint16_t>()[index]);
    case DType::kI32:
      break;
  }
  return 0.0;  // not a weight dtype: the op function rejects it before any kernel runs
}

}  // namespace

void matmul_ref(const MatmulArgs& args) {
  const int64_t m = args.x.shape[0], k = args.x.shape[1], n = args.w.shape[0];
  const auto* x = args.x.as<const float>();
  const auto* bias = args.bias.as<const float>();
  auto* out = args.out.as<float>();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = bias != nullptr ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p)
        sum += static_cast<double>(x[i * k + p]) * weight_at(args.w, j * k + p);
      out[i * n + j] = static_cast<float>(sum);
    }
  }
}

}  // namespace autoglm

#include "backend/cpu/kernels/ref/matmul_ref.h"

#include <cstdint>
#include <vector>

#include "tensor/quant_blocks.h"

namespace autoglm {

void matmul_ref(const MatmulArgs& args) {
  const int64_t m = args.x.shape[0], k = args.x.shape[1], n = args.w.shape[0];
  const auto* x = args.x.as<const float>();
  const auto* w = static_cast<const uint8_t*>(args.w.data);
  const auto* bias = args.bias.as<const float>();
  auto* out = args.out.as<float>();
  // One w row at a time as f32: exact for f16/bf16, the format's reference values for block types.
  const size_t row_bytes = dtype_bytes(args.w.dtype, k);
  std::vector<float> w_row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    dequantize_row(args.w.dtype, w + static_cast<size_t>(j) * row_bytes, w_row.data(), k);
    for (int64_t i = 0; i < m; ++i) {
      double sum = bias != nullptr ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p)
        sum += static_cast<double>(x[i * k + p]) * w_row[static_cast<size_t>(p)];
      out[i * n + j] = static_cast<float>(sum);
    }
  }
}

}  // namespace autoglm

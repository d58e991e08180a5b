#include "backend/cpu/kernels/ref/embedding_ref.h"

#include <cstdint>

#include "core/half.h"

namespace autoglm {

void embedding_ref(const EmbeddingArgs& args) {
  const int64_t t = args.ids.shape[0], d = args.table.shape[1];
  const auto* ids = args.ids.as<const int32_t>();
  auto* out = args.out.as<float>();
  for (int64_t r = 0; r < t; ++r) {
    const int64_t base = static_cast<int64_t>(ids[r]) * d;
    for (int64_t c = 0; c < d; ++c) {
      float v = 0.0f;
      switch (args.table.dtype) {
        case DType::kF32:
          v = args.table.as<const float>()[base + c];
          break;
        case DType::kF16:
          v = f16_to_f32(args.table.as<const uint16_t>()[base + c]);
          break;
        case DType::kBF16:
          v = bf16_to_f32(args.table.as<const uint16_t>()[base + c]);
          break;
        case DType::kI32:
          break;  // not a table dtype: the op function rejects it
      }
      out[r * d + c] = v;
    }
  }
}

}  // namespace autoglm

#include "backend/cpu/kernels/ref/embedding_ref.h"

#include <cstdint>

#include "tensor/quant_blocks.h"

namespace autoglm {

void embedding_ref(const EmbeddingArgs& args) {
  const int64_t t = args.ids.shape[0], d = args.table.shape[1];
  const auto* ids = args.ids.as<const int32_t>();
  const auto* table = static_cast<const uint8_t*>(args.table.data);
  auto* out = args.out.as<float>();
  // Exact widening for f16/bf16, the format's reference values for block types.
  const size_t row_bytes = dtype_bytes(args.table.dtype, d);
  for (int64_t r = 0; r < t; ++r)
    dequantize_row(args.table.dtype, table + static_cast<size_t>(ids[r]) * row_bytes, out + r * d, d);
}

}  // namespace autoglm

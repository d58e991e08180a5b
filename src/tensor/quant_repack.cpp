#include "tensor/quant_repack.h"

#include <cstring>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

// Super-block i of row r within a group of 8 Q4_K rows of n_blocks blocks each.
void interleave(const BlockQ4K* rows, int64_t n_blocks, int64_t i, BlockQ4Kx8* out) {
  for (int r = 0; r < kQ4Kx8Rows; ++r) {
    const BlockQ4K& b = rows[r * n_blocks + i];
    out->d[r] = b.d;
    out->dmin[r] = b.dmin;
    for (int c = 0; c < 12; ++c)
      out->scales[8 * c + r] = b.scales[c];
    for (int p = 0; p < 4; ++p) {
      for (int t = 0; t < 8; ++t)
        std::memcpy(out->qs + 256 * p + 32 * t + 4 * r, b.qs + 32 * p + 4 * t, 4);
    }
  }
}

void deinterleave(const BlockQ4Kx8& in, BlockQ4K* rows, int64_t n_blocks, int64_t i) {
  for (int r = 0; r < kQ4Kx8Rows; ++r) {
    BlockQ4K& b = rows[r * n_blocks + i];
    b.d = in.d[r];
    b.dmin = in.dmin[r];
    for (int c = 0; c < 12; ++c)
      b.scales[c] = in.scales[8 * c + r];
    for (int p = 0; p < 4; ++p) {
      for (int t = 0; t < 8; ++t)
        std::memcpy(b.qs + 32 * p + 4 * t, in.qs + 256 * p + 32 * t + 4 * r, 4);
    }
  }
}

}  // namespace

Status repack_q4_k_x8(void* data, int64_t rows, int64_t k) {
  if (rows < 0 || rows % kQ4Kx8Rows != 0 || k <= 0 || k % kQuantSuperBlockElements != 0) {
    return invalid_argument("repack_q4_k_x8: [" + std::to_string(rows) + ", " + std::to_string(k) +
                            "] needs rows in groups of 8 and k a multiple of 256");
  }
  const int64_t n_blocks = k / kQuantSuperBlockElements;
  std::vector<BlockQ4K> group(static_cast<size_t>(kQ4Kx8Rows * n_blocks));
  auto* out = static_cast<BlockQ4Kx8*>(data);
  for (int64_t g = 0; g < rows / kQ4Kx8Rows; ++g, out += n_blocks) {
    std::memcpy(group.data(), out, group.size() * sizeof(BlockQ4K));
    for (int64_t i = 0; i < n_blocks; ++i)
      interleave(group.data(), n_blocks, i, out + i);
  }
  return Status::ok();
}

Expected<Tensor> interleaved_q4_k(const Tensor& t) {
  if (t.dtype() != DType::kQ4_K || t.shape().rank() != 2) {
    return invalid_argument("interleaved_q4_k: " + t.view().describe() + " is not a Q4_K matrix");
  }
  AUTOGLM_RETURN_IF_ERROR(repack_q4_k_x8(t.data(), t.shape()[0], t.shape()[1]));
  return Tensor(t.storage(), DType::kQ4_Kx8, t.shape(), t.device());
}

void unpack_q4_k_x8(const void* src, void* dst, int64_t rows, int64_t k) {
  const int64_t n_blocks = k / kQuantSuperBlockElements;
  const auto* in = static_cast<const BlockQ4Kx8*>(src);
  auto* out = static_cast<BlockQ4K*>(dst);
  for (int64_t g = 0; g < rows / kQ4Kx8Rows; ++g, in += n_blocks, out += kQ4Kx8Rows * n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i)
      deinterleave(in[i], out, n_blocks, i);
  }
}

}  // namespace autoglm

// Q4_K rows interleaved by 8 (tensor/quant_repack.h): every byte lands where the layout comment says, the
// unpacking restores the original bytes, and shapes that are not whole groups are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/quant_blocks.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v)
    b = static_cast<uint8_t>(rng());
  return v;
}

TEST(QuantRepack, EveryByteGoesWhereTheLayoutSays) {
  const int64_t rows = 24, k = 768, n_blocks = k / 256;
  const std::vector<uint8_t> original = random_bytes(rows * n_blocks * sizeof(BlockQ4K), 1);
  std::vector<uint8_t> packed = original;
  ASSERT_TRUE(repack_q4_k_x8(packed.data(), rows, k).is_ok());
  const auto* src = reinterpret_cast<const BlockQ4K*>(original.data());
  const auto* dst = reinterpret_cast<const BlockQ4Kx8*>(packed.data());
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t g = row / 8, r = row % 8;
    for (int64_t i = 0; i < n_blocks; ++i) {
      const BlockQ4K& b = src[row * n_blocks + i];
      const BlockQ4Kx8& x = dst[g * n_blocks + i];
      ASSERT_EQ(x.d[r], b.d);
      ASSERT_EQ(x.dmin[r], b.dmin);
      for (int c = 0; c < 12; ++c)
        ASSERT_EQ(x.scales[8 * c + r], b.scales[c]) << "row " << row << " block " << i << " byte " << c;
      for (int e = 0; e < 128; ++e) {  // qs[32p + 4t + b] of the row
        const int p = e / 32, t = (e % 32) / 4, lane = e % 4;
        ASSERT_EQ(x.qs[256 * p + 32 * t + 4 * r + lane], b.qs[e])
            << "row " << row << " block " << i << " qs " << e;
      }
    }
  }
  std::vector<uint8_t> unpacked(original.size());
  unpack_q4_k_x8(packed.data(), unpacked.data(), rows, k);
  EXPECT_EQ(unpacked, original);
}

// The same weights, dequantized after a round trip, are the same values.
TEST(QuantRepack, RoundTripKeepsTheDequantizedValues) {
  const int64_t rows = 16, k = 512;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(rows * k);
  for (auto& v : values)
    v = normal(rng);
  std::vector<uint8_t> q(dtype_bytes(DType::kQ4_K, rows * k));
  ASSERT_TRUE(quantize_row(DType::kQ4_K, values.data(), q.data(), rows * k).is_ok());
  std::vector<uint8_t> packed = q, back(q.size());
  ASSERT_TRUE(repack_q4_k_x8(packed.data(), rows, k).is_ok());
  EXPECT_NE(packed, q);
  unpack_q4_k_x8(packed.data(), back.data(), rows, k);
  std::vector<float> a(rows * k), b(rows * k);
  dequantize_row(DType::kQ4_K, q.data(), a.data(), rows * k);
  dequantize_row(DType::kQ4_K, back.data(), b.data(), rows * k);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(QuantRepack, RefusesPartialGroupsAndBlocks) {
  std::vector<uint8_t> bytes(16 * 2 * sizeof(BlockQ4K));
  EXPECT_EQ(repack_q4_k_x8(bytes.data(), 12, 512).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repack_q4_k_x8(bytes.data(), 16, 500).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repack_q4_k_x8(bytes.data(), -8, 256).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(repack_q4_k_x8(bytes.data(), 0, 256).is_ok());
}

// The interleaved type reports Q4_K's sizes and refuses the per-row conversions.
TEST(QuantRepack, DtypeSizesAndRowConversions) {
  EXPECT_EQ(dtype_bytes(DType::kQ4_Kx8, 8 * 256), 8 * sizeof(BlockQ4K));
  EXPECT_TRUE(dtype_is_quantized(DType::kQ4_Kx8));
  EXPECT_FALSE(parse_dtype("q4_k_x8").has_value());  // a layout made at load, not a file or CLI type
  std::vector<float> f(256, 1.0f);
  std::vector<uint8_t> bytes(sizeof(BlockQ4K));
  EXPECT_EQ(quantize_row(DType::kQ4_Kx8, f.data(), bytes.data(), 256).code(), StatusCode::kUnsupported);
  dequantize_row(DType::kQ4_Kx8, bytes.data(), f.data(), 256);
  for (float v : f)
    ASSERT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace autoglm

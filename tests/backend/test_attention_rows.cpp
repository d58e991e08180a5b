// The CPU attention's in-register widening of bf16 cache rows (backend/cpu/kernels/attention_rows.h): a
// spread of bit patterns (zeros, subnormals, infinities, NaNs, random) loads as the bits core/half.h's scalar
// conversion gives, so rows read as they are attend exactly as the f32 rows they widen to.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/kernels/attention_rows.h"
#include "backend/cpu/kernels/fp8_rows.h"
#include "core/fp8.h"
#include "core/half.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm::cpu_attention {
namespace {

// Same value, or both NaN.
bool same(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y || (std::isnan(a) && std::isnan(b));
}

TEST(AttentionRows, Bf16RowsLoadAsTheScalarConversion) {
  std::vector<Bf16Element> row = {{0x0000}, {0x8000}, {0x0001}, {0x807f}, {0x7f80}, {0xff80}, {0x7fc0},
                                  {0x7f81}, {0x3f80}, {0xbf80}, {0x7f7f}, {0x0080}, {0x4049}, {0xc2f7}};
  std::mt19937 rng(3);
  while (row.size() % kVec != 0 || row.size() < 4096)
    row.push_back({static_cast<uint16_t>(rng())});
  for (size_t d = 0; d < row.size(); d += kVec) {
    const Vec8 v = load_row8(row.data() + d);
    for (int e = 0; e < kVec; ++e) {
      const float want = bf16_to_f32(row[d + static_cast<size_t>(e)].bits);
      EXPECT_TRUE(same(v[e], want)) << "bits " << row[d + static_cast<size_t>(e)].bits;
    }
  }
}

// Every e4m3 code, at every offset of an 8-value group and in the scalar tail, widens to the scalar
// conversion's bits (NaN as NaN).
TEST(AttentionRows, Fp8RowsWidenAsTheScalarConversion) {
  std::vector<uint8_t> codes(256 + 8 + 5);
  for (size_t i = 0; i < codes.size(); ++i)
    codes[i] = static_cast<uint8_t>(i * 37 + 11);  // 37 is odd: all 256 codes in each run of 256
  for (size_t offset = 0; offset < 8; ++offset) {
    const int64_t n = static_cast<int64_t>(codes.size() - offset);
    std::vector<float> out(static_cast<size_t>(n));
    cpu_vec::widen_fp8_e4m3(codes.data() + offset, n, out.data());
    for (int64_t d = 0; d < n; ++d) {
      const uint8_t code = codes[offset + static_cast<size_t>(d)];
      EXPECT_TRUE(same(out[static_cast<size_t>(d)], fp8_e4m3_to_f32(code))) << "code " << int{code};
    }
  }
  // Signs, zeros, the smallest subnormal, the largest normal and NaN, exactly.
  const uint8_t edge[8] = {0x00, 0x80, 0x01, 0x81, 0x7e, 0xfe, 0x7f, 0x08};
  const Vec8 v = cpu_vec::widen_fp8_e4m3x8(edge);
  EXPECT_TRUE(same(v[0], 0.0f) && !std::signbit(v[0]));
  EXPECT_TRUE(v[1] == 0.0f && std::signbit(v[1]));
  EXPECT_EQ(v[2], 0.001953125f);
  EXPECT_EQ(v[3], -0.001953125f);
  EXPECT_EQ(v[4], 448.0f);
  EXPECT_EQ(v[5], -448.0f);
  EXPECT_TRUE(std::isnan(v[6]));
  EXPECT_EQ(v[7], 0.015625f);  // 2^-6, the smallest normal
}

}  // namespace
}  // namespace autoglm::cpu_attention

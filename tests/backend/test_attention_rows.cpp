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

}  // namespace
}  // namespace autoglm::cpu_attention

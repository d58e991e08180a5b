// core/fp8.h: decoding against the format's definition for all 256 codes, and encoding against a brute-force
// nearest-value search (ties to the even code, saturation at 448) over edge cases and random floats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/fp8.h"

namespace autoglm {
namespace {

// The value of code x by the format's definition (OCP FP8 E4M3, "fn": S.1111.111 is NaN).
double e4m3_value(uint8_t x) {
  const int sign = x >> 7, exp = (x >> 3) & 15, mant = x & 7;
  if (exp == 15 && mant == 7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude = exp == 0 ? std::ldexp(mant, -9) : std::ldexp(8 + mant, exp - 10);
  return sign ? -magnitude : magnitude;
}

// The code nearest to f, ties to the code with an even mantissa; beyond 448 saturated.
uint8_t nearest_code(float f) {
  const double a = std::fabs(static_cast<double>(f));
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  if (a >= 448.0) return sign | 0x7e;
  uint8_t best = 0;
  for (uint8_t c = 1; c <= 0x7e; ++c) {
    const double d = std::fabs(e4m3_value(c) - a), best_d = std::fabs(e4m3_value(best) - a);
    if (d < best_d || (d == best_d && (c & 1) == 0)) best = c;
  }
  return sign | best;
}

TEST(Fp8E4M3, DecodesEveryCodeByTheDefinition) {
  for (int x = 0; x < 256; ++x) {
    const double want = e4m3_value(static_cast<uint8_t>(x));
    const float got = fp8_e4m3_to_f32(static_cast<uint8_t>(x));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << x;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << x;
      EXPECT_EQ(std::signbit(got), (x & 0x80) != 0) << x;
    }
  }
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
}

TEST(Fp8E4M3, EveryFiniteCodeRoundTrips) {
  for (int x = 0; x < 256; ++x) {
    if ((x & 0x7f) == 0x7f) continue;  // NaN
    EXPECT_EQ(f32_to_fp8_e4m3(fp8_e4m3_to_f32(static_cast<uint8_t>(x))), x) << x;
  }
}

TEST(Fp8E4M3, RoundsToNearestEvenAndSaturates) {
  std::vector<float> cases = {0.0f,
                              -0.0f,
                              448.0f,
                              449.0f,
                              463.9f,
                              464.0f,
                              480.0f,
                              1e6f,
                              -1e6f,
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::ldexp(1.0f, -10),
                              std::ldexp(1.0f, -10) * 1.0001f,
                              std::ldexp(3.0f, -10),
                              std::ldexp(1.0f, -6) * 0.999f,
                              1.0625f,
                              1.1875f,
                              17.0f,
                              0.3f};
  // Every midpoint between neighbouring finite codes, and a hair either side of it.
  for (int c = 0; c < 0x7e; ++c) {
    const double mid = (e4m3_value(static_cast<uint8_t>(c)) + e4m3_value(static_cast<uint8_t>(c + 1))) / 2;
    const float m = static_cast<float>(mid);
    cases.push_back(m);
    cases.push_back(std::nextafter(m, 0.0f));
    cases.push_back(std::nextafter(m, 1e9f));
    cases.push_back(-m);
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-14.0f, 10.0f);
  for (int i = 0; i < 20000; ++i) {
    const float v = std::exp2(exponent(rng));
    cases.push_back(i % 2 ? v : -v);
  }
  for (float f : cases)
    EXPECT_EQ(f32_to_fp8_e4m3(f), nearest_code(f)) << f;
}

TEST(Fp8E4M3, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(f32_to_fp8_e4m3(nan) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_fp8_e4m3(-nan) & 0x7f, 0x7f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0xff)));
}

}  // namespace
}  // namespace autoglm

// core/half.h: exhaustive over the 16-bit formats, and f32 -> f16 checked against the F16C instruction.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/half.h"

namespace autoglm {
namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

bool f16_is_nan(uint16_t h) {
  return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}
bool bf16_is_nan(uint16_t h) {
  return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

// The value of an f16 pattern from its definition, independent of half.h's bit manipulation.
double f16_value(uint16_t h) {
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0x1f) return mant == 0 ? sign * INFINITY : NAN;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(Half, F16ToF32IsExactForEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = f16_to_f32(h);
    if (f16_is_nan(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      ASSERT_EQ(bits_of(f) >> 31, i >> 15) << "sign of NaN " << std::hex << i;
    } else {
      ASSERT_EQ(static_cast<double>(f), f16_value(h)) << std::hex << i;
      ASSERT_EQ(std::signbit(f), (i & 0x8000u) != 0) << std::hex << i;  // -0 stays -0
    }
  }
}

TEST(Half, F16RoundTripsEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const uint16_t back = f32_to_f16(f16_to_f32(h));
    if (f16_is_nan(h)) {
      ASSERT_TRUE(f16_is_nan(back)) << std::hex << i << " -> " << back;
      ASSERT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << i;
      // A quiet NaN keeps its payload; a signalling one comes back quieted, as through the hardware.
      ASSERT_EQ(back, h | 0x200u) << std::hex << i;
    } else {
      ASSERT_EQ(back, h) << std::hex << i;
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void f16c_convert(const float* src, uint16_t* dst, size_t count) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i h =
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < count; ++i)
    dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

// Every float class that matters for f16: any bit pattern (NaNs, infinities, f32 subnormals), values spread
// over and beyond the f16 exponent range, and the exact ties halfway between neighbouring f16 values.
std::vector<float> f16_test_floats() {
  std::vector<float> v;
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 2'000'000; ++i)
    v.push_back(float_of(static_cast<uint32_t>(rng())));
  std::uniform_int_distribution<uint32_t> exp_dist(127 - 30, 127 + 17);  // f16 subnormals .. overflow
  for (int i = 0; i < 2'000'000; ++i) {
    const auto r = static_cast<uint32_t>(rng());
    v.push_back(float_of((r & 0x807fffffu) | exp_dist(rng) << 23));
  }
  for (uint32_t h = 0; h < 0x7c00u; ++h) {  // every finite positive f16 and the midpoint to its successor
    const double lo = f16_value(static_cast<uint16_t>(h));
    const double hi = h + 1 == 0x7c00u ? 65536.0 : f16_value(static_cast<uint16_t>(h + 1));
    for (const double d : {lo, (lo + hi) / 2}) {
      v.push_back(static_cast<float>(d));
      v.push_back(-static_cast<float>(d));
      v.push_back(std::nextafter(static_cast<float>(d), 0.0f));
      v.push_back(std::nextafter(static_cast<float>(d), INFINITY));
    }
  }
  for (const uint32_t b : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u, 0x7fbfffffu,
                           0x477fe000u, 0x477ff000u, 0x477fefffu, 0x33000000u, 0x33000001u, 0x00000001u}) {
    v.push_back(float_of(b));
  }
  return v;
}

TEST(Half, F32ToF16MatchesF16c) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "this CPU has no F16C";
  const std::vector<float> values = f16_test_floats();
  std::vector<uint16_t> expected(values.size());
  f16c_convert(values.data(), expected.data(), values.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t got = f32_to_f16(values[i]);
    if (got != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << std::hex << "f32 " << bits_of(values[i]) << ": got " << got << ", F16C "
                    << expected[i];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << values.size();
#else
  GTEST_SKIP() << "F16C is an x86 instruction set";
#endif
}

// Round to nearest even from the definition: the two bf16 candidates around |f| and the distance to each.
uint16_t bf16_oracle(float f) {
  const uint32_t b = bits_of(f);
  const uint32_t sign = b & 0x80000000u;
  const uint32_t lo = b & 0x7fff0000u;  // truncation toward zero
  const uint32_t hi = lo + 0x10000u;    // next magnitude up; 0x7f800000 is infinity
  const double x = std::fabs(static_cast<double>(f));
  const double d_lo = x - std::fabs(static_cast<double>(float_of(lo)));
  // Infinity counts as 2^128 for the rounding decision, which is what IEEE overflow under RNE amounts to.
  const double v_hi = hi == 0x7f800000u ? std::ldexp(1.0, 128) : static_cast<double>(float_of(hi));
  const double d_hi = v_hi - x;
  uint32_t pick;
  if (d_lo < d_hi) {
    pick = lo;
  } else if (d_hi < d_lo) {
    pick = hi;
  } else {
    pick = ((lo >> 16) & 1u) == 0 ? lo : hi;
  }
  return static_cast<uint16_t>((sign | pick) >> 16);
}

void expect_bf16_conversion(float f) {
  const uint16_t got = f32_to_bf16(f);
  if (std::isnan(f)) {
    ASSERT_TRUE(bf16_is_nan(got)) << std::hex << bits_of(f);
    ASSERT_EQ(got >> 15, bits_of(f) >> 31) << std::hex << bits_of(f);
    ASSERT_EQ(got & 0x40u, 0x40u) << "NaN not quieted: " << std::hex << bits_of(f);
    return;
  }
  if (std::isinf(f)) {
    ASSERT_EQ(got, bits_of(f) >> 16);
    return;
  }
  ASSERT_EQ(got, bf16_oracle(f)) << std::hex << "f32 " << bits_of(f);
}

TEST(Half, F32ToBf16RoundsToNearestEven) {
  std::mt19937_64 rng(777);
  for (int i = 0; i < 2'000'000; ++i)
    expect_bf16_conversion(float_of(static_cast<uint32_t>(rng())));
  // Ties: the low half exactly 0x8000 with an even and an odd upper half, over every exponent; the largest
  // finite tie overflows to infinity.
  for (uint32_t upper = 0; upper < 0x10000u; ++upper) {
    expect_bf16_conversion(float_of(upper << 16 | 0x8000u));
    expect_bf16_conversion(float_of(upper << 16 | 0x7fffu));
    expect_bf16_conversion(float_of(upper << 16 | 0x8001u));
  }
  EXPECT_EQ(f32_to_bf16(float_of(0x3f808000u)), 0x3f80u);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(float_of(0x3f818000u)), 0x3f82u);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(float_of(0x7f7f8000u)), 0x7f80u);  // tie above the largest bf16: infinity
  EXPECT_EQ(f32_to_bf16(float_of(0x00008000u)), 0x0000u);  // subnormal tie to even zero
  EXPECT_EQ(f32_to_bf16(float_of(0x80018000u)), 0x8002u);  // negative subnormal tie, odd rounds away
}

TEST(Half, Bf16ToF32IsExactForEveryPattern) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    ASSERT_EQ(bits_of(bf16_to_f32(h)), i << 16) << std::hex << i;
    const uint16_t back = f32_to_bf16(bf16_to_f32(h));
    if (bf16_is_nan(h)) {
      ASSERT_EQ(back, h | 0x40u) << std::hex << i;  // quieted, payload kept
    } else {
      ASSERT_EQ(back, h) << std::hex << i;
    }
  }
}

}  // namespace
}  // namespace autoglm

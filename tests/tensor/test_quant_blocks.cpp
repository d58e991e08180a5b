// The GGUF block formats (tensor/quant_blocks.h): byte layout, dequantization of hand-built blocks against
// values computed here from the format's formula (the blocks are packed here, field by field, from the
// GGUF/ggml layout, independently of the library's decoder), and quantize -> dequantize round trips within
// the error bound of each quantizer (quant_blocks.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

TEST(QuantBlocksLayout, SizesAndOffsetsAreGgufs) {
  EXPECT_EQ(sizeof(BlockQ80), dtype_size(DType::kQ8_0));
  EXPECT_EQ(sizeof(BlockQ40), dtype_size(DType::kQ4_0));
  EXPECT_EQ(sizeof(BlockQ4K), dtype_size(DType::kQ4_K));
  EXPECT_EQ(sizeof(BlockQ5K), dtype_size(DType::kQ5_K));
  EXPECT_EQ(sizeof(BlockQ6K), dtype_size(DType::kQ6_K));
  EXPECT_EQ(offsetof(BlockQ80, qs), 2u);
  EXPECT_EQ(offsetof(BlockQ40, qs), 2u);
  EXPECT_EQ(offsetof(BlockQ4K, dmin), 2u);
  EXPECT_EQ(offsetof(BlockQ4K, scales), 4u);
  EXPECT_EQ(offsetof(BlockQ4K, qs), 16u);
  EXPECT_EQ(offsetof(BlockQ5K, qh), 16u);
  EXPECT_EQ(offsetof(BlockQ5K, qs), 48u);
  EXPECT_EQ(offsetof(BlockQ6K, qh), 128u);
  EXPECT_EQ(offsetof(BlockQ6K, scales), 192u);
  EXPECT_EQ(offsetof(BlockQ6K, d), 208u);
  EXPECT_EQ(dtype_block_elements(DType::kQ8_0), kQuantBlockElements);
  EXPECT_EQ(dtype_block_elements(DType::kQ6_K), kQuantSuperBlockElements);
}

// Decodes a whole row and returns it.
std::vector<float> decode(DType dtype, const void* blocks, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -12345.0f);
  dequantize_row(dtype, blocks, out.data(), n);
  return out;
}

// All the hand-built blocks below use power-of-two scales and small integers, so every expected value is
// exact in f32 and the comparison is exact.
TEST(QuantBlocksDequantize, Q8_0HandBuilt) {
  BlockQ80 b[2];
  b[0].d = f32_to_f16(0.5f);
  b[1].d = f32_to_f16(-0.125f);
  const int8_t values[] = {-128, -127, -1, 0, 1, 126, 127, 5};
  for (int j = 0; j < 32; ++j) {
    b[0].qs[j] = values[j % 8];
    b[1].qs[j] = static_cast<int8_t>(j - 16);
  }
  const auto y = decode(DType::kQ8_0, b, 64);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y[j], 0.5f * values[j % 8]) << j;
    EXPECT_EQ(y[32 + j], -0.125f * (j - 16)) << j;
  }
}

TEST(QuantBlocksDequantize, Q4_0HandBuilt) {
  BlockQ40 b;
  b.d = f32_to_f16(-0.25f);
  // Element j (< 16) in the low nibble of byte j, element j + 16 in its high nibble.
  for (int j = 0; j < 16; ++j)
    b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = decode(DType::kQ4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], -0.25f * (j - 8)) << j;
    EXPECT_EQ(y[j + 16], -0.25f * (15 - j - 8)) << j;
  }
}

// GGUF's 12-byte packing of eight 6-bit scales and mins (K types): bytes 0-3 low 6 bits of sc[0..3] with
// the top 2 bits of sc[4..7] in bits 6-7; bytes 4-7 the same for mn; bytes 8-11 low nibble = low 4 bits of
// sc[4..7], high nibble = low 4 bits of mn[4..7].
void pack_k_scales(const int sc[8], const int mn[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
}

// Sub-block scales and mins that set every bit of the 6-bit fields somewhere (63, 48, 33, ...) and include 0.
constexpr int kScales[8] = {0, 1, 17, 63, 32, 5, 48, 63};
constexpr int kMins[8] = {63, 0, 9, 33, 16, 62, 1, 40};

// 4-bit code of element e: 7 is odd, so every sub-block of 32 sees every code 0..15 twice.
int code4(int e) {
  return (7 * e + 3) % 16;
}
// 5th bit of element e for Q5_K.
int bit5(int e) {
  return ((e * 5) >> 2) & 1;
}

template <typename Block>
void fill_k4(Block& b, bool q5) {
  b.d = f32_to_f16(0.5f);
  b.dmin = f32_to_f16(0.25f);
  pack_k_scales(kScales, kMins, b.scales);
  // Bytes 32p..32p+31 of qs: elements 64p + l (low nibble) and 64p + 32 + l (high nibble).
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l)
      b.qs[32 * p + l] = static_cast<uint8_t>(code4(64 * p + l) | (code4(64 * p + 32 + l) << 4));
  }
  if constexpr (requires { b.qh; }) {
    std::memset(b.qh, 0, sizeof b.qh);
    if (q5) {
      for (int p = 0; p < 4; ++p) {
        for (int l = 0; l < 32; ++l) {
          b.qh[l] |= static_cast<uint8_t>(bit5(64 * p + l) << (2 * p));
          b.qh[l] |= static_cast<uint8_t>(bit5(64 * p + 32 + l) << (2 * p + 1));
        }
      }
    }
  }
}

TEST(QuantBlocksDequantize, Q4_KHandBuilt) {
  BlockQ4K b[2];
  fill_k4(b[0], false);
  fill_k4(b[1], false);
  b[1].d = f32_to_f16(-2.0f);  // a negative super-block scale, and a check of the block stride
  const auto y = decode(DType::kQ4_K, b, 512);
  for (int blk = 0; blk < 2; ++blk) {
    const float d = blk == 0 ? 0.5f : -2.0f;
    for (int e = 0; e < 256; ++e) {
      const int g = e / 32;
      const float expected = d * kScales[g] * code4(e) - 0.25f * kMins[g];
      ASSERT_EQ(y[256 * blk + e], expected) << "block " << blk << " element " << e;
    }
  }
}

TEST(QuantBlocksDequantize, Q5_KHandBuilt) {
  BlockQ5K b;
  fill_k4(b, true);
  const auto y = decode(DType::kQ5_K, &b, 256);
  int high_bits = 0;
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    const int code = code4(e) + 16 * bit5(e);
    high_bits += bit5(e);
    ASSERT_EQ(y[e], 0.5f * kScales[g] * code - 0.25f * kMins[g]) << e;
  }
  EXPECT_GT(high_bits, 64);  // the 5th bit is exercised in both states
  EXPECT_LT(high_bits, 192);
}

TEST(QuantBlocksDequantize, Q6_KHandBuilt) {
  // One int8 scale per 16 elements: extremes, sign, zero.
  const int8_t scales[16] = {-128, 127, -1, 0, 1, 64, -64, 5, 3, -7, 100, -100, 2, 31, -32, 11};
  auto code6 = [](int e) { return (11 * e + 5) % 64; };  // 11 is odd: every code 0..63 per 64 elements
  BlockQ6K b;
  b.d = f32_to_f16(-0.125f);
  std::memcpy(b.scales, scales, 16);
  // Per half h (128 elements), l < 32: ql[l] = low4(l) | low4(l + 64) << 4, ql[l + 32] = low4(l + 32) |
  // low4(l + 96) << 4, qh[l] = high2(l) | high2(l + 32) << 2 | high2(l + 64) << 4 | high2(l + 96) << 6.
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int e = 128 * h + l;
      b.ql[64 * h + l] = static_cast<uint8_t>((code6(e) & 15) | ((code6(e + 64) & 15) << 4));
      b.ql[64 * h + l + 32] = static_cast<uint8_t>((code6(e + 32) & 15) | ((code6(e + 96) & 15) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((code6(e) >> 4) | ((code6(e + 32) >> 4) << 2) |
                                              ((code6(e + 64) >> 4) << 4) | ((code6(e + 96) >> 4) << 6));
    }
  }
  const auto y = decode(DType::kQ6_K, &b, 256);
  for (int e = 0; e < 256; ++e)
    ASSERT_EQ(y[e], -0.125f * scales[e / 16] * (code6(e) - 32)) << e;
}

// Random bytes (finite f16 scales) against a decoder written here, element by element, from the format's
// description (GGUF / ggml's reference dequantization), in double.
double reference_element(DType dtype, const uint8_t* blk, int e) {
  auto f16 = [&](int offset) {
    return static_cast<double>(f16_to_f32(static_cast<uint16_t>(blk[offset] | blk[offset + 1] << 8)));
  };
  switch (dtype) {
    case DType::kQ8_0:
      return f16(0) * static_cast<int8_t>(blk[2 + e]);
    case DType::kQ4_0:
      return f16(0) * ((e < 16 ? blk[2 + e] & 15 : blk[2 + e - 16] >> 4) - 8);
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const uint8_t* sc = blk + 4;
      const int g = e / 32;
      const int scale = g < 4 ? sc[g] & 63 : (sc[g + 4] & 15) + 16 * (sc[g - 4] >> 6);
      const int min = g < 4 ? sc[g + 4] & 63 : (sc[g + 4] >> 4) + 16 * (sc[g] >> 6);
      const int p = e / 64, l = e % 32, upper = (e % 64) >= 32;
      const uint8_t* qs = blk + (dtype == DType::kQ4_K ? 16 : 48);
      int code = upper ? qs[32 * p + l] >> 4 : qs[32 * p + l] & 15;
      if (dtype == DType::kQ5_K) code += 16 * ((blk[16 + l] >> (2 * p + upper)) & 1);
      return f16(0) * scale * code - f16(2) * min;
    }
    case DType::kQ6_K: {
      const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      const uint8_t low_byte = blk[64 * h + l + 32 * (quarter & 1)];
      const int low = quarter < 2 ? low_byte & 15 : low_byte >> 4;
      const int high = (blk[128 + 32 * h + l] >> (2 * quarter)) & 3;
      return f16(208) * static_cast<int8_t>(blk[192 + e / 16]) * ((low | high << 4) - 32);
    }
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI32:
    case DType::kF8E4M3:
    case DType::kQ4_Kx8:  // not a row format (test_quant_repack.cpp)
      break;
  }
  return 0;
}

TEST(QuantBlocksDequantize, RandomBlocksFollowTheFormula) {
  std::mt19937_64 rng(7);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const int64_t per_block = dtype_block_elements(dtype), n = 8 * per_block;
    const size_t block_bytes = dtype_size(dtype);
    std::vector<uint8_t> bytes(dtype_bytes(dtype, n));
    for (auto& b : bytes)
      b = static_cast<uint8_t>(rng());
    for (size_t off = 0; off < bytes.size(); off += block_bytes) {  // finite f16 scales: exponent < 16
      for (size_t f16_at : dtype == DType::kQ6_K ? std::vector<size_t>{208} : std::vector<size_t>{0, 2})
        bytes[off + f16_at + 1] &= 0xbf;
    }
    const auto y = decode(dtype, bytes.data(), n);
    for (int64_t e = 0; e < n; ++e) {
      const double want = reference_element(dtype, bytes.data() + (e / per_block) * block_bytes,
                                            static_cast<int>(e % per_block));
      ASSERT_NEAR(y[e], want, 1e-6 * std::fabs(want) + 1e-30) << dtype_name(dtype) << " element " << e;
    }
  }
}

TEST(QuantBlocksDequantize, PlainTypesAreWidened) {
  const uint16_t h[3] = {f32_to_f16(1.5f), f32_to_f16(-2.0f), 0};
  const auto y = decode(DType::kF16, h, 3);
  EXPECT_EQ(y, (std::vector<float>{1.5f, -2.0f, 0.0f}));
}

// ---- quantizers ----

TEST(QuantBlocksQuantize, Q8_0AndQ4_0FollowTheReferenceRounding) {
  std::vector<float> x(32, 0.0f);
  x[0] = -1.0f;  // largest magnitude
  x[1] = 0.5f;
  x[2] = 0.0625f;  // exactly half a Q4_0 step: rounds up
  x[3] = 0.25f;    // 31.75 Q8_0 steps
  BlockQ80 q8;
  ASSERT_TRUE(quantize_row(DType::kQ8_0, x.data(), &q8, 32).is_ok());
  EXPECT_EQ(q8.d, f32_to_f16(1.0f / 127.0f));
  EXPECT_EQ(q8.qs[0], -127);
  EXPECT_EQ(q8.qs[3], 32);
  EXPECT_EQ(q8.qs[4], 0);
  BlockQ40 q4;
  ASSERT_TRUE(quantize_row(DType::kQ4_0, x.data(), &q4, 32).is_ok());
  EXPECT_EQ(f16_to_f32(q4.d), 0.125f);  // d = max / -8 with max = -1
  EXPECT_EQ(q4.qs[0] & 15, 0);          // -1 -> code 0
  EXPECT_EQ(q4.qs[1] & 15, 12);         // 0.5 / 0.125 = 4, + 8
  EXPECT_EQ(q4.qs[2] & 15, 9);          // 0.5 + 8.5 = 9.0 -> 9
  EXPECT_EQ(q4.qs[4] >> 4, 8);          // zero -> 8
}

TEST(QuantBlocksQuantize, RejectsPartialBlocksAndIntegers) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> out(1024);
  EXPECT_EQ(quantize_row(DType::kQ4_K, x.data(), out.data(), 300).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(quantize_row(DType::kQ8_0, x.data(), out.data(), 33).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(quantize_row(DType::kI32, x.data(), out.data(), 4).code(), StatusCode::kUnsupported);
}

// The per-element error bound of quantize_row for the block (or 16/32-element group) holding x[e]; the
// derivations are in quant_blocks.cpp. f16_error(d) bounds the rounding of a stored scale d to binary16:
// half an ulp, 2^-11 relative for normal values, at most 2^-25 absolute in the subnormal range (< 2^-14),
// which the scales of tiny values reach; each code multiplies it.
std::vector<double> error_bounds(DType dtype, const std::vector<float>& x) {
  const size_t n = x.size();
  std::vector<double> bound(n);
  auto f16_error = [](double d) { return std::max(std::fabs(d) / 2048, std::ldexp(1.0, -25)); };
  auto amax_of = [&](size_t begin, size_t count) {
    double a = 0;
    for (size_t i = begin; i < begin + count; ++i)
      a = std::max(a, std::fabs(static_cast<double>(x[i])));
    return a;
  };
  for (size_t sb = 0; sb < n; sb += static_cast<size_t>(dtype_block_elements(dtype))) {
    switch (dtype) {
      case DType::kQ8_0: {
        const double s = amax_of(sb, 32) / 127;
        std::fill_n(bound.begin() + sb, 32, s / 2 + 127 * f16_error(s) + 1e-9);
        break;
      }
      case DType::kQ4_0: {
        const double s = amax_of(sb, 32) / 8;
        std::fill_n(bound.begin() + sb, 32, s + 8 * f16_error(s) + 1e-9);
        break;
      }
      case DType::kQ4_K:
      case DType::kQ5_K: {
        const int codes = dtype == DType::kQ4_K ? 15 : 31;
        double step[8], big_s = 0, big_m = 0;
        for (int g = 0; g < 8; ++g) {
          const auto first = x.begin() + static_cast<std::ptrdiff_t>(sb + 32 * g);
          const double lo = std::min(0.0, static_cast<double>(*std::min_element(first, first + 32)));
          const double hi = *std::max_element(first, first + 32);
          step[g] = (hi - lo) / codes;
          big_s = std::max(big_s, step[g]);
          big_m = std::max(big_m, -lo);
        }
        for (int g = 0; g < 8; ++g) {
          const double b = step[g] / 2 + (codes + 1) * big_s / 126 + big_m / 126 +
                           63 * (codes * f16_error(big_s / 63) + f16_error(big_m / 63)) + 1e-9;
          std::fill_n(bound.begin() + sb + 32 * g, 32, b);
        }
        break;
      }
      case DType::kQ6_K: {
        double step[16], big_s = 0;
        for (int g = 0; g < 16; ++g) {
          step[g] = amax_of(sb + 16 * g, 16) / 32;
          big_s = std::max(big_s, step[g]);
        }
        for (int g = 0; g < 16; ++g)
          std::fill_n(bound.begin() + sb + 16 * g, 16,
                      step[g] + big_s / 8 + 128 * 32 * f16_error(big_s / 128) + 1e-9);
        break;
      }
      case DType::kF32:
      case DType::kF16:
      case DType::kBF16:
      case DType::kI32:
      case DType::kF8E4M3:
      case DType::kQ4_Kx8:
        break;
    }
  }
  return bound;
}

// Random rows of several characters: centered, offset (every min positive), with outliers, and zeros.
std::vector<float> test_row(int kind, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    v = uniform(rng);
    if (kind == 1) v = 1.0f + 0.5f * v;                      // [0.5, 1.5): nonzero mins
    if (kind == 2 && (rng() % 97) == 0) v *= 40.0f;          // rare outliers
    if (kind == 3) v = (rng() % 3 == 0) ? 0.0f : v * 1e-3f;  // small, sparse
  }
  if (kind == 3) std::fill_n(x.begin(), 256, 0.0f);  // one all-zero super-block
  return x;
}

class QuantRoundTripTest : public ::testing::TestWithParam<std::tuple<DType, int>> {};

TEST_P(QuantRoundTripTest, ErrorIsWithinTheQuantizersBound) {
  const auto [dtype, kind] = GetParam();
  const int64_t n = 4096;
  const auto x = test_row(kind, n, 17 + kind);
  std::vector<uint8_t> blocks(dtype_bytes(dtype, n));
  ASSERT_TRUE(quantize_row(dtype, x.data(), blocks.data(), n).is_ok());
  const auto y = decode(dtype, blocks.data(), n);
  const auto bound = error_bounds(dtype, x);
  double sq_err = 0, sq_x = 0;
  for (int64_t e = 0; e < n; ++e) {
    const double err = std::fabs(static_cast<double>(y[e]) - x[e]);
    ASSERT_LE(err, bound[e]) << dtype_name(dtype) << " element " << e << " x " << x[e] << " y " << y[e];
    sq_err += err * err;
    sq_x += static_cast<double>(x[e]) * x[e];
  }
  if (kind == 0) {
    // Uniform data, relative RMS error: about step / sqrt(12) / rms(x), step = range / (2^bits - 1).
    const double rel_rms = std::sqrt(sq_err / sq_x);
    const double expected_max = dtype == DType::kQ8_0   ? 0.006
                                : dtype == DType::kQ6_K ? 0.03
                                : dtype == DType::kQ5_K ? 0.04
                                                        : 0.08;
    EXPECT_LT(rel_rms, expected_max) << dtype_name(dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, QuantRoundTripTest,
                         ::testing::Combine(::testing::Values(DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                                                              DType::kQ5_K, DType::kQ6_K),
                                            ::testing::Range(0, 4)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_kind" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(QuantBlocksQuantize, ZerosStayZeros) {
  const std::vector<float> x(256, 0.0f);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::vector<uint8_t> blocks(dtype_bytes(dtype, 256), 0xAB);
    ASSERT_TRUE(quantize_row(dtype, x.data(), blocks.data(), 256).is_ok());
    for (float v : decode(dtype, blocks.data(), 256))
      ASSERT_EQ(v, 0.0f) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace autoglm

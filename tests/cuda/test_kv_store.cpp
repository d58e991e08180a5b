// kv_store on the GPU against the CPU kv_store on host copies, f32 / f16 / bf16 caches: byte-exact over the
// whole cache, so rows outside [start, start + t) must be untouched. Single-token decode stores, prefill
// stores, a store that fills the cache to its last row, odd head sizes, and an empty store; and f32 rows
// converted into bf16 / f16 caches, bit-equal to the host's rounding (core/half.h) including ties, NaN,
// infinities, overflow and subnormals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>

#include "core/half.h"

#include "cuda/cuda_harness.h"
#include "ops/attention.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::to_device;
using test::to_host;

struct Case {
  int64_t capacity, kv_heads, head_dim, t, start;
};

TEST(CudaKvStore, MatchesCpuByteForByte) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  const Case cases[] = {{16, 2, 64, 1, 0}, {16, 2, 64, 1, 5},     {16, 2, 64, 3, 13},   {16, 2, 64, 16, 0},
                        {37, 3, 5, 7, 11}, {4097, 1, 3, 1, 4096}, {64, 8, 128, 33, 20}, {16, 2, 64, 0, 7}};
  uint64_t seed = 800;
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " capacity " + std::to_string(c.capacity) + " t " +
                   std::to_string(c.t) + " start " + std::to_string(c.start) + " head_dim " +
                   std::to_string(c.head_dim));
      Tensor cache = random_tensor(dtype, Shape{c.capacity, c.kv_heads, c.head_dim}, seed += 2);
      const Tensor src = random_tensor(dtype, Shape{c.t, c.kv_heads, c.head_dim}, seed + 1);
      const Tensor dcache = to_device(*cuda, cache), dsrc = to_device(*cuda, src);
      ASSERT_TRUE(kv_store(*cuda, {dsrc.view(), dcache.view(), c.start}).is_ok());
      ASSERT_TRUE(cuda->synchronize().is_ok());
      ASSERT_TRUE(kv_store(*cpu, {src.view(), cache.view(), c.start}).is_ok());
      const Tensor got = to_host(*cuda, dcache.view());
      ASSERT_EQ(got.nbytes(), cache.nbytes());
      EXPECT_EQ(std::memcmp(got.data(), cache.data(), cache.nbytes()), 0);
    }
  }
}

// Values where rounding is easy to get wrong, written over the start of an f32 src.
void plant_special_values(Tensor& src) {
  const uint32_t bits[] = {
      0x3f808000u,  // bf16 tie, even below: rounds down
      0x3f818000u,  // bf16 tie, odd below: rounds up
      0x3f808001u,  // just above a bf16 tie
      0x3f801000u,  // f16 tie, even below
      0x3f803000u,  // f16 tie, odd below
      0x477ff000u,  // 65520: f16 overflows to inf
      0x477fefffu,  // just below: f16 65504
      0x7f7fffffu,  // max float: bf16 rounds to inf
      0x33000001u,  // just above half the smallest f16 subnormal
      0x33000000u,  // exactly half of it: ties to 0
      0x38800000u,  // smallest normal f16
      0x387fc000u,  // f16 subnormal
      0x00000001u,  // f32 subnormal
      0x80000000u,  // -0
      0x7f800000u,  // inf
      0xff800000u,  // -inf
      0x7fc00000u,  // quiet NaN
      0x7f800001u,  // signalling NaN, payload in the low bits
      0xffa5a5a5u,  // negative NaN with a payload
  };
  float* p = src.as<float>();
  const int64_t n = std::min<int64_t>(src.numel(), static_cast<int64_t>(std::size(bits)));
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(p + i, &bits[i], sizeof(float));
}

// f32 rows into a bf16 or f16 cache: the GPU's conversion equals the host's bit for bit, and the CPU
// kv_store writes the same cache.
TEST(CudaKvStore, ConvertsF32LikeTheHost) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  const Case cases[] = {{16, 2, 64, 1, 0},    {16, 2, 64, 1, 5}, {16, 2, 64, 3, 13},       {37, 3, 5, 7, 11},
                        {64, 8, 128, 33, 20}, {16, 2, 64, 0, 7}, {5000, 2, 128, 4096, 900}};
  uint64_t seed = 1800;
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " capacity " + std::to_string(c.capacity) + " t " +
                   std::to_string(c.t) + " start " + std::to_string(c.start) + " head_dim " +
                   std::to_string(c.head_dim));
      Tensor cache = random_tensor(dtype, Shape{c.capacity, c.kv_heads, c.head_dim}, seed += 2);
      Tensor before = Tensor::host(dtype, cache.shape());
      std::memcpy(before.data(), cache.data(), cache.nbytes());
      Tensor src =
          random_tensor(DType::kF32, Shape{c.t, c.kv_heads, c.head_dim}, seed + 1, -70000.0f, 70000.0f);
      plant_special_values(src);
      const Tensor dcache = to_device(*cuda, cache), dsrc = to_device(*cuda, src);
      const Status stored = kv_store(*cuda, {dsrc.view(), dcache.view(), c.start});
      ASSERT_TRUE(stored.is_ok()) << stored.to_string();
      ASSERT_TRUE(cuda->synchronize().is_ok());
      const Tensor got = to_host(*cuda, dcache.view());
      const int64_t row = c.kv_heads * c.head_dim;
      const auto* got_bits = got.as<const uint16_t>();
      const auto* old_bits = before.as<const uint16_t>();
      for (int64_t i = 0; i < cache.numel(); ++i) {
        const int64_t r = i / row;
        uint16_t want = old_bits[i];
        if (r >= c.start && r < c.start + c.t) {
          const float x = src.as<const float>()[i - c.start * row];
          want = dtype == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
        }
        ASSERT_EQ(got_bits[i], want) << "element " << i << " row " << r;
      }
      ASSERT_TRUE(kv_store(*cpu, {src.view(), cache.view(), c.start}).is_ok());
      EXPECT_EQ(std::memcmp(got.data(), cache.data(), cache.nbytes()), 0);
    }
  }
}

// Decode: one row per step into consecutive positions, queued back to back without synchronizing.
TEST(CudaKvStore, ConsecutiveStoresAccumulate) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  Tensor cache = random_tensor(DType::kBF16, Shape{32, 2, 16}, 1);
  const Tensor dcache = to_device(*cuda, cache);
  for (int64_t step = 0; step < 32; ++step) {
    const Tensor src = random_tensor(DType::kBF16, Shape{1, 2, 16}, 100 + step);
    const Tensor dsrc = to_device(*cuda, src);
    ASSERT_TRUE(kv_store(*cuda, {dsrc.view(), dcache.view(), step}).is_ok());
    ASSERT_TRUE(kv_store(*cpu, {src.view(), cache.view(), step}).is_ok());
  }
  const Tensor got = to_host(*cuda, dcache.view());
  EXPECT_EQ(std::memcmp(got.data(), cache.data(), cache.nbytes()), 0);
}

}  // namespace
}  // namespace autoglm

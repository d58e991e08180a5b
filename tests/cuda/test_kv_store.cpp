// kv_store on the GPU against the CPU kv_store on host copies, f32 / f16 / bf16 caches: byte-exact over the
// whole cache, so rows outside [start, start + t) must be untouched. Single-token decode stores, prefill
// stores, a store that fills the cache to its last row, odd head sizes, and an empty store.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

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

// The CUDA attention over a bf16 KV cache (attention_bf16.cu) against the CPU f32 attention run on the same
// cache values widened to f32, so the only differences are the kernel's own roundings and summation order:
// tensor-core prefill (t > 4; head_dim 64, 80, 96, 128, 256), split-K decode (t <= 4; with and without
// splits), and the generic kernel (odd head_dim, head_dim 320, an unaligned cache). Queries at q_pos0 = 0 and
// > 0, GQA groups 1, 4, 8 (and 3, 16), sliding windows, soft-capping. Cache rows past q_pos0 + t hold NaN, so
// a kernel that reads (or multiplies by zero) a row it must not see fails; outputs are NaN-poisoned and
// guarded on the device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/kernels/prefill_row_blocks.h"
#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/attention.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;
using test::rel_max_abs_error;

// Tolerances on max|gpu - cpu| / max|cpu|.
// Decode and the generic kernel compute in f32 from the same bf16 cache values as the CPU's f32 inputs:
//   only the summation order differs, a few 1e-7 (as for the f32 kernels, tests/cuda/test_attention.cpp).
// Tensor-core prefill rounds Q and the probabilities P to bf16 (relative error <= 2^-9 = 2e-3 each, random
//   in sign). Q: a score scale * sum_d q_d k_d (|q| < 2, |k| < 1, scale 1/sqrt(D)) moves by about
//   2^-9 * scale * sqrt(D) * E|q k| ~ 1e-3 absolute, so each weight by ~1e-3 relative; P: each weight by
//   2^-9 relative. The output, a convex combination of V rows in [-0.5, 1.5) with max|cpu| near 1, thus
//   moves by a few 1e-3 at worst (averaging over keys shrinks it further): 1e-2 leaves a margin, while a
//   wrong mask, a lost tile or a skipped rescale costs 1e-1 or more. The cosine over the whole output
//   catches smaller systematic errors: >= 0.9999 (a relative error of 1e-2 everywhere would give ~0.99995).
constexpr double kExactTolerance = 3e-5;
constexpr double kTensorCoreTolerance = 1e-2;
constexpr double kMinCosine = 0.9999;

struct Mode {
  const char* name;
  int64_t window;
  float softcap;
};

const Mode kModes[] = {
    {"full", 0, 0.0f}, {"window23", 23, 0.0f}, {"softcap30", 0, 30.0f}, {"window100_softcap30", 100, 30.0f}};

struct Case {
  int64_t t, q_pos0, q_heads, kv_heads, head_dim;
  Mode mode;
  bool unaligned = false;  // the device caches start 2 bytes past a 16-byte boundary (the generic kernel)
};

std::string describe(const Case& c) {
  return "t=" + std::to_string(c.t) + " q_pos0=" + std::to_string(c.q_pos0) +
         " heads=" + std::to_string(c.q_heads) + "/" + std::to_string(c.kv_heads) +
         " head_dim=" + std::to_string(c.head_dim) + " " + c.mode.name + (c.unaligned ? " unaligned" : "");
}

// The tensor-core prefill runs where attention_bf16.cu takes it; everything else computes in f32.
bool uses_tensor_cores(const Case& c) {
  return c.t > 4 && c.head_dim % 16 == 0 && c.head_dim <= 256 && !c.unaligned;
}

// A bf16 cache of random values in [lo, hi) with NaN in rows [valid, capacity), and its f32 widening.
struct Cache {
  Tensor bf16;
  Tensor f32;
};

Cache make_cache(const Shape& shape, int64_t valid, uint64_t seed, float lo, float hi) {
  Cache c;
  c.bf16 = random_tensor(DType::kBF16, shape, seed, lo, hi);
  const int64_t row = shape[1] * shape[2];
  auto* bits = c.bf16.as<uint16_t>();
  for (int64_t i = valid * row; i < shape.numel(); ++i)
    bits[i] = f32_to_bf16(std::numeric_limits<float>::quiet_NaN());
  c.f32 = Tensor::host(DType::kF32, shape);
  for (int64_t i = 0; i < shape.numel(); ++i)
    c.f32.as<float>()[i] = bf16_to_f32(bits[i]);
  return c;
}

// Runs one case on both backends and compares; fatal failures return early.
void check_case(Backend& cuda, Backend& cpu, const Case& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const int64_t valid = c.q_pos0 + c.t, capacity = valid + 5;
  const Shape q_shape{c.t, c.q_heads, c.head_dim}, cache_shape{capacity, c.kv_heads, c.head_dim};
  const Tensor q = random_tensor(DType::kF32, q_shape, seed, -2.0f, 2.0f);
  const Cache k = make_cache(cache_shape, valid, seed + 1, -1.0f, 1.0f);
  const Cache v = make_cache(cache_shape, valid, seed + 2, -0.5f, 1.5f);
  AttentionArgs args;
  args.q_pos0 = c.q_pos0;
  args.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  args.window = c.mode.window;
  args.softcap = c.mode.softcap;

  Tensor expected = Tensor::host(DType::kF32, q_shape);
  args.q = q.view();
  args.k_cache = k.f32.view();
  args.v_cache = v.f32.view();
  args.out = expected.view();
  const Status cpu_status = attention(cpu, args);
  ASSERT_TRUE(cpu_status.is_ok()) << cpu_status.to_string();

  const Tensor q_d = test::to_device(cuda, q);
  Tensor k_d, v_d;
  test::OffsetDeviceTensor k_off, v_off;
  if (c.unaligned) {
    k_off = test::to_device_offset(cuda, k.bf16);
    v_off = test::to_device_offset(cuda, v.bf16);
    args.k_cache = k_off.view;
    args.v_cache = v_off.view;
  } else {
    k_d = test::to_device(cuda, k.bf16);
    v_d = test::to_device(cuda, v.bf16);
    args.k_cache = k_d.view();
    args.v_cache = v_d.view();
  }
  ASSERT_EQ(args.k_cache.dtype, DType::kBF16);
  GuardedDeviceOut out(cuda, q_shape);
  args.q = q_d.view();
  args.out = out.view();
  const Status status = attention(cuda, args);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  const Status synced = cuda.synchronize();
  ASSERT_TRUE(synced.is_ok()) << synced.to_string();
  out.expect_clean();
  if (::testing::Test::HasFatalFailure()) return;
  const std::vector<float> got = out.values(), want = test::to_f32(expected.view());
  if (uses_tensor_cores(c)) {
    EXPECT_LE(rel_max_abs_error(got, want), kTensorCoreTolerance);
    EXPECT_GE(test::cosine_similarity(got, want), kMinCosine);
  } else {
    EXPECT_LE(rel_max_abs_error(got, want), kExactTolerance);
  }
}

// (t, q_pos0, group), 8 query heads.
using AttentionParam = std::tuple<int64_t, int64_t, int64_t>;

void check_all(const AttentionParam& param) {
  const auto [t, q_pos0, group] = param;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  uint64_t seed = 1700 + static_cast<uint64_t>(t * 131 + q_pos0 * 7 + group);
  // The longest prefill keeps the CPU reference's time in check: two head sizes, two modes.
  const bool long_rows = t >= 1000;
  const std::vector<int64_t> head_dims =
      long_rows ? std::vector<int64_t>{64, 128} : std::vector<int64_t>{64, 80, 128, 256};
  for (const int64_t head_dim : head_dims) {
    for (const Mode& mode : kModes) {
      if (long_rows && mode.window == 23) continue;
      if (long_rows && mode.window == 0 && mode.softcap > 0) continue;
      check_case(*cuda, *cpu, Case{t, q_pos0, 8, 8 / group, head_dim, mode}, seed += 3);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<AttentionParam>& info) {
  const auto [t, q_pos0, group] = info.param;
  // Appended piecewise: "literal" + std::string trips a false -Wrestrict in GCC 12's libstdc++.
  std::string name = "t";
  name += std::to_string(t);
  name += "_pos";
  name += std::to_string(q_pos0);
  name += "_group";
  name += std::to_string(group);
  return name;
}

// Decode: one query row at context 1 and 17 (one split), 300 (several splits) and 5000 (many), and 2-4 rows
// on the decode kernel.
class CudaAttentionBf16DecodeTest : public ::testing::TestWithParam<AttentionParam> {};

TEST_P(CudaAttentionBf16DecodeTest, MatchesCpu) {
  check_all(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaAttentionBf16DecodeTest,
                         ::testing::Combine(::testing::Values(int64_t{1}),
                                            ::testing::Values(0, 16, 299, 4999), ::testing::Values(1, 4, 8)),
                         param_name);

INSTANTIATE_TEST_SUITE_P(CudaRows, CudaAttentionBf16DecodeTest,
                         ::testing::Combine(::testing::Values(2, 4), ::testing::Values(0, 40),
                                            ::testing::Values(1, 8)),
                         param_name);

// Prefill on tensor cores: t = 5 (one partial query tile), 64 (one full tile), 130 and 300 (several tiles,
// partial last key tiles, causal skipping), 1000 (a 100-key window that starts past key tile 0), from
// position 0 and after 37 cached tokens.
class CudaAttentionBf16PrefillTest : public ::testing::TestWithParam<AttentionParam> {};

TEST_P(CudaAttentionBf16PrefillTest, MatchesCpu) {
  check_all(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaAttentionBf16PrefillTest,
                         ::testing::Combine(::testing::Values(5, 64, 130, 300, 1000),
                                            ::testing::Values(0, 37), ::testing::Values(1, 4, 8)),
                         param_name);

// Prompts long enough, over enough heads, that the prefill takes two 16-row blocks per warp (128-row query
// tiles; backend/cuda/kernels/prefill_row_blocks.h) on any device of up to 164 SMs: head_dim 128 and 64, from
// position 0 and after cached tokens, with and without a window and softcap.
TEST(CudaAttentionBf16WideTilesTest, TwoRowBlocksPerWarp) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  cudaDeviceProp props{};
  ASSERT_EQ(cudaGetDeviceProperties(&props, 0), cudaSuccess);
  uint64_t seed = 19300;
  const int64_t t = 1100;
  for (const auto& [q_heads, kv_heads, head_dim] : {std::tuple<int64_t, int64_t, int64_t>{64, 8, 128},
                                                    std::tuple<int64_t, int64_t, int64_t>{64, 16, 64}}) {
    ASSERT_EQ(attention_bf16::prefill_launch_row_blocks(t, q_heads, head_dim, props.multiProcessorCount), 2);
    for (const int64_t q_pos0 : {0, 37}) {
      for (const Mode& mode : {kModes[0], kModes[3]}) {
        check_case(*cuda, *cpu, Case{t, q_pos0, q_heads, kv_heads, head_dim, mode}, seed += 3);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Odd head sizes (3 and 40: generic prefill, 40 on the vector decode; 96 on both fast kernels; 320 generic
// everywhere), odd groups (3: a partial decode head tile; 16: two tiles of 8), and unaligned caches.
TEST(CudaAttentionBf16OddShapesTest, MatchesCpu) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  uint64_t seed = 19100;
  const std::tuple<int64_t, int64_t> positions[] = {{1, 1999}, {2, 40}, {33, 10}, {70, 0}};
  const std::tuple<int64_t, int64_t> heads[] = {{6, 2}, {16, 1}, {4, 4}};
  for (const int64_t head_dim : {3, 40, 96, 320}) {
    for (const auto& [t, q_pos0] : positions) {
      for (const auto& [q_heads, kv_heads] : heads) {
        for (const Mode& mode : {kModes[0], kModes[3]}) {
          check_case(*cuda, *cpu, Case{t, q_pos0, q_heads, kv_heads, head_dim, mode}, seed += 3);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  for (const auto& [t, q_pos0] : positions) {
    check_case(*cuda, *cpu, Case{t, q_pos0, 8, 2, 64, kModes[1], true}, seed += 3);
    if (HasFatalFailure()) return;
  }
}

// The full path of a model layer: f32 K/V rows converted into bf16 caches by kv_store, then attention,
// against the CPU on the host-rounded values.
TEST(CudaAttentionBf16Test, KvStoreThenAttention) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  const int64_t t = 200, q_heads = 8, kv_heads = 2, head_dim = 128, capacity = 256;
  const Tensor q = random_tensor(DType::kF32, Shape{t, q_heads, head_dim}, 5, -2.0f, 2.0f);
  const Tensor k = random_tensor(DType::kF32, Shape{t, kv_heads, head_dim}, 6);
  const Tensor v = random_tensor(DType::kF32, Shape{t, kv_heads, head_dim}, 7, -0.5f, 1.5f);
  auto k_cache = cuda->allocate(DType::kBF16, Shape{capacity, kv_heads, head_dim});
  auto v_cache = cuda->allocate(DType::kBF16, Shape{capacity, kv_heads, head_dim});
  ASSERT_TRUE(k_cache.has_value() && v_cache.has_value());
  const Tensor k_d = test::to_device(*cuda, k), v_d = test::to_device(*cuda, v),
               q_d = test::to_device(*cuda, q);
  ASSERT_TRUE(kv_store(*cuda, {k_d.view(), k_cache->view(), 0}).is_ok());
  ASSERT_TRUE(kv_store(*cuda, {v_d.view(), v_cache->view(), 0}).is_ok());
  GuardedDeviceOut out(*cuda, q.shape());
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  ASSERT_TRUE(attention(*cuda, {q_d.view(), k_cache->view(), v_cache->view(), 0, scale, 0, 0.0f, out.view()})
                  .is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  out.expect_clean();
  if (HasFatalFailure()) return;

  Tensor k_r = Tensor::host(DType::kF32, k.shape()), v_r = Tensor::host(DType::kF32, v.shape());
  for (int64_t i = 0; i < k.numel(); ++i) {
    k_r.as<float>()[i] = bf16_to_f32(f32_to_bf16(k.as<float>()[i]));
    v_r.as<float>()[i] = bf16_to_f32(f32_to_bf16(v.as<float>()[i]));
  }
  Tensor expected = Tensor::host(DType::kF32, q.shape());
  ASSERT_TRUE(
      attention(*cpu, {q.view(), k_r.view(), v_r.view(), 0, scale, 0, 0.0f, expected.view()}).is_ok());
  const std::vector<float> got = out.values(), want = test::to_f32(expected.view());
  EXPECT_LE(rel_max_abs_error(got, want), kTensorCoreTolerance);
  EXPECT_GE(test::cosine_similarity(got, want), kMinCosine);
}

// An f16 cache passes the op's checks but has no CUDA kernel: a clear error, not a wrong answer.
TEST(CudaAttentionBf16Test, F16CacheHasNoKernel) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto q = cuda->allocate(DType::kF32, Shape{1, 2, 16});
  auto cache = cuda->allocate(DType::kF16, Shape{4, 2, 16});
  auto cache2 = cuda->allocate(DType::kF16, Shape{4, 2, 16});
  auto out = cuda->allocate(DType::kF32, Shape{1, 2, 16});
  ASSERT_TRUE(q.has_value() && cache.has_value() && cache2.has_value() && out.has_value());
  const Status s =
      attention(*cuda, {q->view(), cache->view(), cache2->view(), 0, 0.25f, 0, 0.0f, out->view()});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.to_string();
}

}  // namespace
}  // namespace autoglm

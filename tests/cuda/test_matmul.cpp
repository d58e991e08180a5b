// The CUDA matmul against the CPU matmul on the same random seeded inputs, for every weight dtype and path
// (GEMV at m = 1 and for f32 weights at m <= 8, the skinny tensor-core GEMM for 16-bit weights at
// 2 <= m <= 16, cuBLASLt above, and the GEMV fallback where cuBLASLt declines), odd shapes and misaligned
// views; outputs NaN-poisoned and guarded on the device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;
using test::rel_max_abs_error;

constexpr int64_t kGemvMaxRows = 8;     // the f32 GEMV's limit (kernels/matmul_gemv.h)
constexpr int64_t kSkinnyMaxRows = 16;  // the skinny GEMM's limit (kernels/matmul_skinny.h)

// Whether the GPU computes with x rounded to the weight type: 16-bit weights at m > 1 (the skinny GEMM and
// cuBLASLt take 16-bit operands), so the CPU reference runs on the same rounded x.
bool rounds_x(DType w_dtype, int64_t m) {
  return w_dtype != DType::kF32 && m > 1;
}

Tensor x_as_seen(const Tensor& x, DType w_dtype) {
  return rounds_x(w_dtype, x.shape()[0]) ? test::rounded_f32(x, w_dtype) : x;
}

// Tolerance on max|gpu - cpu| / max|cpu|. Both sides multiply the same values exactly (16-bit weights widen
// to f32 exactly, and at m > 1 the rounded x times a 16-bit weight is exact in f32) and accumulate in f32
// in different orders: ~sqrt(k) * 2^-24 relative, far under 1e-5 for k <= 4097. At m > 1 with 16-bit weights
// the tensor cores accumulate in f32 but do not round every partial sum to nearest as an FMA chain does
// (their internal alignment truncates), which costs up to a few units of 2^-23 per addition; over k = 4104
// terms that stays well under 1e-4, while one wrong element or a missed row moves the error to ~1e-1.
double tolerance(DType w_dtype, int64_t m) {
  return rounds_x(w_dtype, m) ? 1e-4 : 1e-5;
}

struct Mnk {
  int64_t m, n, k;
};

// Chosen to cover: m in {1, 2, 3, 4, 7, 8, 9, 12, 16, 17, 33, 128}; odd k (1, 3, 127, 4097: the element-load
// fallback) and odd n (1, 3, 127, 4097: a partial last block of 4 rows); n < 1056 (one row per block) and
// above (four); m > 8 with shapes cuBLASLt may refuse (k = 1, 3, 127: odd leading dimensions); the skinny
// GEMM with k a multiple of 8 but not of its 128-wide step (8, 136, 4104), n not a multiple of its 16 rows,
// one and two 8-row tiles, partial tiles.
const Mnk kShapes[] = {
    {1, 1, 1},      {1, 3, 127},  {1, 127, 4096},  {1, 4097, 256},   {1, 1100, 512},  {2, 4097, 64},
    {3, 127, 4097}, {4, 5, 1},    {4, 1200, 3},    {7, 33, 128},     {8, 1, 256},     {8, 2000, 1000},
    {8, 300, 4097}, {9, 64, 127}, {9, 3, 1},       {9, 1100, 512},   {17, 1, 1},      {33, 3, 4097},
    {33, 257, 96},  {33, 128, 3}, {64, 127, 64},   {128, 300, 1024}, {128, 4097, 64}, {128, 1, 128},
    {2, 17, 4104},  {5, 100, 8},  {12, 4097, 136}, {16, 33, 4096},   {16, 1, 64},     {17, 40, 136},
};

using MatmulParam = std::tuple<DType, int>;

class CudaMatmulTest : public ::testing::TestWithParam<MatmulParam> {};

TEST_P(CudaMatmulTest, MatchesCpu) {
  const auto [dtype, shape_index] = GetParam();
  const Mnk s = kShapes[shape_index];
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  for (const bool with_bias : {false, true}) {
    SCOPED_TRACE(with_bias ? "with bias" : "no bias");
    const uint64_t seed = 5000 + 10 * shape_index + (with_bias ? 1 : 0);
    const Tensor x = random_tensor(DType::kF32, Shape{s.m, s.k}, seed);
    const Tensor w = random_tensor(dtype, Shape{s.n, s.k}, seed + 100);
    const Tensor bias = with_bias ? random_tensor(DType::kF32, Shape{s.n}, seed + 200) : Tensor{};

    const Tensor x_ref = x_as_seen(x, dtype);
    Tensor expected = Tensor::host(DType::kF32, Shape{s.m, s.n});
    ASSERT_TRUE(
        matmul(*cpu, {x_ref.view(), w.view(), with_bias ? bias.view() : TensorView{}, expected.view()})
            .is_ok());

    const Tensor x_d = test::to_device(*cuda, x);
    const Tensor w_d = test::to_device(*cuda, w);
    const Tensor bias_d = with_bias ? test::to_device(*cuda, bias) : Tensor{};
    GuardedDeviceOut out(*cuda, Shape{s.m, s.n});
    const Status status =
        matmul(*cuda, {x_d.view(), w_d.view(), with_bias ? bias_d.view() : TensorView{}, out.view()});
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    const Status synced = cuda->synchronize();
    ASSERT_TRUE(synced.is_ok()) << synced.to_string();
    out.expect_clean();
    if (HasFatalFailure()) return;
    EXPECT_LE(rel_max_abs_error(out.values(), test::to_f32(expected.view())), tolerance(dtype, s.m));
  }
}

std::string param_name(const ::testing::TestParamInfo<MatmulParam>& info) {
  const auto [dtype, shape_index] = info.param;
  const Mnk s = kShapes[shape_index];
  return std::string(dtype_name(dtype)) + "_" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
         std::to_string(s.k);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaMatmulTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                                            ::testing::Range(0, static_cast<int>(std::size(kShapes)))),
                         param_name);

// Views whose data start one element past an allocation: not 16-byte aligned, so the GEMV must take its
// element-load path and cuBLASLt must be told the real alignment (or decline, and the GEMV runs).
class CudaMatmulMisalignedTest : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(CudaMatmulMisalignedTest, MatchesCpu) {
  const auto [dtype, m] = GetParam();
  const int64_t n = 96, k = 256;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  const Tensor x = random_tensor(DType::kF32, Shape{m * k + 1}, 91);
  const Tensor w = random_tensor(dtype, Shape{n * k + 1}, 92);
  const Tensor bias = random_tensor(DType::kF32, Shape{n + 1}, 93);
  const Tensor x_d = test::to_device(*cuda, x);
  const Tensor w_d = test::to_device(*cuda, w);
  const Tensor bias_d = test::to_device(*cuda, bias);
  auto shifted = [](const Tensor& t, Shape shape) {
    const size_t element = dtype_bytes(t.dtype(), 1);
    return TensorView{static_cast<char*>(t.data()) + element, t.dtype(), shape, t.device()};
  };

  Tensor x_host = Tensor::host(DType::kF32, Shape{m, k});
  std::memcpy(x_host.data(), x.as<const float>() + 1, x_host.nbytes());
  const Tensor x_ref = x_as_seen(x_host, dtype);
  Tensor expected = Tensor::host(DType::kF32, Shape{m, n});
  ASSERT_TRUE(matmul(*cpu, {x_ref.view(), shifted(w, Shape{n, k}), shifted(bias, Shape{n}), expected.view()})
                  .is_ok());

  GuardedDeviceOut out(*cuda, Shape{m, n});
  const Status status = matmul(
      *cuda, {shifted(x_d, Shape{m, k}), shifted(w_d, Shape{n, k}), shifted(bias_d, Shape{n}), out.view()});
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  const Status synced = cuda->synchronize();
  ASSERT_TRUE(synced.is_ok()) << synced.to_string();
  out.expect_clean();
  if (HasFatalFailure()) return;
  EXPECT_LE(rel_max_abs_error(out.values(), test::to_f32(expected.view())), tolerance(dtype, m));
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaMatmulMisalignedTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                                            ::testing::Values(int64_t{1}, int64_t{5}, int64_t{40})));

// Decode batch invariance: a row's result must not depend on how many rows share the pass over w: 1..8 rows
// of the f32 GEMV, 2..16 rows of the skinny GEMM for 16-bit weights (its 8-row tiles are independent
// instructions, and the k order of the sums does not depend on m).
class CudaMatmulInvarianceTest : public ::testing::TestWithParam<DType> {};

TEST_P(CudaMatmulInvarianceTest, RowsAreBitIdenticalAcrossBatch) {
  const DType dtype = GetParam();
  const bool skinny = dtype != DType::kF32;
  const int64_t n = 1500, k = 768, max_rows = skinny ? kSkinnyMaxRows : kGemvMaxRows;
  const int64_t smallest = skinny ? 2 : 1;  // a single 16-bit row takes the GEMV, on f32 x
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor x = random_tensor(DType::kF32, Shape{2 * max_rows, k}, 61);
  const Tensor w = random_tensor(dtype, Shape{n, k}, 62);
  const Tensor bias = random_tensor(DType::kF32, Shape{n}, 63);
  const Tensor x_d = test::to_device(*cuda, x);
  const Tensor w_d = test::to_device(*cuda, w);
  const Tensor bias_d = test::to_device(*cuda, bias);
  GuardedDeviceOut batched(*cuda, Shape{max_rows, n});
  ASSERT_TRUE(
      matmul(*cuda, {x_d.view().rows(0, max_rows), w_d.view(), bias_d.view(), batched.view()}).is_ok());
  const std::vector<float> all = batched.values();
  for (int64_t i = 0; i < max_rows; ++i) {
    // Row i first in the smallest batch of the path (with its successor), and in a batch of every size.
    for (const int64_t rows : {smallest, (i % max_rows) + 1}) {
      if (rows < smallest) continue;
      GuardedDeviceOut part(*cuda, Shape{rows, n});
      ASSERT_TRUE(
          matmul(*cuda, {x_d.view().rows(i, i + rows), w_d.view(), bias_d.view(), part.view()}).is_ok());
      const std::vector<float> got = part.values();
      ASSERT_EQ(std::memcmp(got.data(), all.data() + i * n, static_cast<size_t>(n) * sizeof(float)), 0)
          << "row " << i << " in a batch of " << rows;
    }
  }
  // A batch-invariant call (the paged engine's) gives a single 16-bit row the bits of the batched rows too.
  if (skinny) {
    for (int64_t i = 0; i < max_rows; ++i) {
      GuardedDeviceOut single(*cuda, Shape{1, n});
      MatmulArgs one{x_d.view().rows(i, i + 1), w_d.view(), bias_d.view(), single.view()};
      one.batch_invariant = true;
      ASSERT_TRUE(matmul(*cuda, one).is_ok());
      const std::vector<float> got = single.values();
      ASSERT_EQ(std::memcmp(got.data(), all.data() + i * n, static_cast<size_t>(n) * sizeof(float)), 0)
          << "row " << i << " alone, batch-invariant";
    }
  }
  const Status synced = cuda->synchronize();
  ASSERT_TRUE(synced.is_ok()) << synced.to_string();
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaMatmulInvarianceTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16));

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// x already of w's 16-bit type (graph/matmul_input_pass.h) gives exactly the result of the f32 x holding the
// same values, on every path: the GEMV (m = 1), the skinny GEMM (batch-invariant m = 1, 2-16 rows),
// cuBLASLt (larger m) and, for a k no 16-byte kernel takes, the fallback.
TEST(CudaMatmulSixteenBitX, EqualsF32XOfTheSameValues) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const int64_t k : {int64_t{768}, int64_t{1001}}) {
      const int64_t n = 333, max_m = 70;
      const Tensor x16 = random_tensor(dtype, Shape{max_m, k}, static_cast<uint64_t>(k));
      const Tensor x32 = Tensor::host(DType::kF32, Shape{max_m, k});
      const std::vector<float> widened = test::to_f32(x16.view());
      std::memcpy(x32.data(), widened.data(), x32.nbytes());
      const Tensor w = random_tensor(dtype, Shape{n, k}, static_cast<uint64_t>(k + 1));
      const Tensor bias = random_tensor(DType::kF32, Shape{n}, static_cast<uint64_t>(k + 2));
      const Tensor x16_d = test::to_device(*cuda, x16), x32_d = test::to_device(*cuda, x32);
      const Tensor w_d = test::to_device(*cuda, w), bias_d = test::to_device(*cuda, bias);
      for (const int64_t m : {1, 2, 9, 16, 17, 70}) {
        for (const bool invariant : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " k " + std::to_string(k) + " m " +
                       std::to_string(m) + (invariant ? " batch-invariant" : ""));
          GuardedDeviceOut want(*cuda, Shape{m, n}), got(*cuda, Shape{m, n});
          MatmulArgs a{x32_d.view().rows(0, m), w_d.view(), bias_d.view(), want.view(), invariant};
          ASSERT_TRUE(matmul(*cuda, a).is_ok());
          a.x = x16_d.view().rows(0, m);
          a.out = got.view();
          ASSERT_TRUE(matmul(*cuda, a).is_ok());
          ASSERT_TRUE(cuda->synchronize().is_ok());
          got.expect_clean();
          ASSERT_EQ(got.values(), want.values());
        }
      }
    }
  }
}

}  // namespace
}  // namespace autoglm

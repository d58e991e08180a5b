// The CPU matmul and embedding on block-quantized weights (kernels/quant_matmul*.cpp, quant_embedding.cpp)
// against dequantize-then-f32: matmul_ref (double accumulation) on the weights dequantize_row decodes, on
// every instruction-set path this CPU supports, with guard elements around the output and NaN poisoning
// inside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "backend/cpu/kernels/ref/embedding_ref.h"
#include "backend/cpu/kernels/ref/matmul_ref.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "support/guarded_output.h"
#include "support/test_data.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

using test::GuardedOut;
using test::random_tensor;

constexpr DType kQuantTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Random f32 values quantized with quantize_row into a [rows, cols] tensor of dtype (q4_k_x8: quantized to
// Q4_K, then repacked).
Tensor quantized_tensor(DType dtype, int64_t rows, int64_t cols, uint64_t seed) {
  const Tensor values = random_tensor(DType::kF32, Shape{rows, cols}, seed);
  const DType stored = dtype == DType::kQ4_Kx8 ? DType::kQ4_K : dtype;
  Tensor t = Tensor::host(stored, Shape{rows, cols});
  EXPECT_TRUE(quantize_row(stored, values.as<float>(), t.data(), rows * cols).is_ok());
  if (dtype != DType::kQ4_Kx8) return t;
  auto interleaved = interleaved_q4_k(t);
  EXPECT_TRUE(interleaved.has_value()) << interleaved.status().to_string();
  return interleaved ? std::move(*interleaved) : t;
}

Tensor dequantized(const Tensor& t) {
  Tensor f = Tensor::host(DType::kF32, t.shape());
  if (t.dtype() == DType::kQ4_Kx8) {
    Tensor plain = Tensor::host(DType::kQ4_K, t.shape());
    unpack_q4_k_x8(t.data(), plain.data(), t.shape()[0], t.shape()[1]);
    dequantize_row(DType::kQ4_K, plain.data(), f.as<float>(), t.numel());
  } else {
    dequantize_row(t.dtype(), t.data(), f.as<float>(), t.numel());
  }
  return f;
}

class IsaScope {
 public:
  explicit IsaScope(MatmulIsa isa) : previous_(matmul_set_isa(isa)) {}
  ~IsaScope() { matmul_set_isa(previous_); }

 private:
  MatmulIsa previous_;
};

// The bound on |kernel - reference| for out[i, j], reference = the exact dot of x with the dequantized w.
// Decode (m <= kQuantStreamMaxM) rounds x to int8 with one scale per 32-block b (scale amax_b / 127, error at
// most half of it per element), which moves out[i, j] by at most sum_b amax_b / 254 * sum_{p in b} |w_jp|.
// Both paths then round in f32: the products of the block scales (a few ulp each) and at most k / 16 + 16
// additions per output (FMA steps per lane, the reduction tree, the offset / min terms), each adding at most
// 2^-24 of a running magnitude bounded by sum_p |x_ip| * (|code| + offset) * scale <= 3 max|w_j| sum|x_i|
// (Q4_0: codes 0..15, offset 8, max|w| >= 8 |d|): (4096 / 16 + 16) * 2^-24 * 3 < 5e-5 at k = 4096, so
// 6e-5 * max|w_j| * sum_p |x_ip| covers it. (Observed errors are far below: the roundings do not line up.)
double tolerance(const float* x, const float* w, int64_t k, bool int8_x) {
  double sum_abs_x = 0, max_abs_w = 0, x_rounding = 0;
  for (int64_t b = 0; b < k / 32; ++b) {
    double amax = 0, sum_abs_w = 0;
    for (int64_t p = 32 * b; p < 32 * b + 32; ++p) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[p])));
      sum_abs_w += std::fabs(static_cast<double>(w[p]));
      sum_abs_x += std::fabs(static_cast<double>(x[p]));
      max_abs_w = std::max(max_abs_w, std::fabs(static_cast<double>(w[p])));
    }
    x_rounding += amax / 254 * sum_abs_w;
  }
  return (int8_x ? x_rounding * 1.001 : 0.0) + 6e-5 * max_abs_w * sum_abs_x + 1e-6;
}

// x as the decode path sees it: d[b] * q[p] per row.
Tensor int8_rounded(const Tensor& x) {
  const int64_t m = x.shape()[0], k = x.shape()[1];
  Tensor r = Tensor::host(DType::kF32, Shape{m, k});
  std::vector<int8_t> q(static_cast<size_t>(k));
  std::vector<float> d(static_cast<size_t>(k / 32)), sum32(d.size()), sum16(2 * d.size());
  for (int64_t i = 0; i < m; ++i) {
    quantize_x_row(x.as<float>() + i * k, k, q.data(), d.data(), sum32.data(), sum16.data());
    for (int64_t p = 0; p < k; ++p)
      r.as<float>()[i * k + p] = d[static_cast<size_t>(p / 32)] * q[static_cast<size_t>(p)];
  }
  return r;
}

using QuantMatmulParam = std::tuple<MatmulIsa, DType, int64_t, int64_t, int64_t, bool>;

class QuantMatmulTest : public ::testing::TestWithParam<QuantMatmulParam> {};

TEST_P(QuantMatmulTest, MatchesDequantizedReference) {
  const auto [isa, dtype, m, n, k, with_bias] = GetParam();
  if (!matmul_isa_supported(isa)) GTEST_SKIP() << matmul_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  CpuBackend backend(BackendOptions{.n_threads = 2});
  const uint64_t seed = static_cast<uint64_t>(m * 1000003 + n * 1009 + k) + static_cast<uint64_t>(dtype) * 7;
  const Tensor x = random_tensor(DType::kF32, Shape{m, k}, seed);
  const Tensor w = quantized_tensor(dtype, n, k, seed + 1);
  const Tensor w_f32 = dequantized(w);
  Tensor bias;
  if (with_bias) bias = random_tensor(DType::kF32, Shape{n}, seed + 2);

  GuardedOut out(Shape{m, n});
  MatmulArgs args{x.view(), w.view(), {}, out.view()};
  if (with_bias) args.bias = bias.view();
  ASSERT_TRUE(matmul(backend, args).is_ok());
  out.expect_clean();
  const std::vector<float> values = out.values();

  Tensor expected = Tensor::host(DType::kF32, Shape{m, n});
  MatmulArgs ref_args{x.view(), w_f32.view(), {}, expected.view()};
  if (with_bias) ref_args.bias = bias.view();
  matmul_ref(ref_args);

  const bool int8_x = m <= kQuantStreamMaxM;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const double tol = tolerance(x.as<float>() + i * k, w_f32.as<float>() + j * k, k, int8_x);
      const double got = values[i * n + j], want = expected.as<float>()[i * n + j];
      ASSERT_LE(std::fabs(got - want), tol) << "out[" << i << ", " << j << "] " << got << " vs " << want;
    }
  }
  if (!int8_x) return;
  // The bound above is the contract but leaves room; against x as the decode path rounds it (d * q, from
  // quantize_x_row) only the f32 rounding remains, which catches a wrong scale of a single sub-block.
  const Tensor x_rounded = int8_rounded(x);
  matmul_ref({x_rounded.view(), w_f32.view(), ref_args.bias, expected.view()});
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const double tol = tolerance(x_rounded.as<float>() + i * k, w_f32.as<float>() + j * k, k, false);
      const double got = values[i * n + j], want = expected.as<float>()[i * n + j];
      ASSERT_LE(std::fabs(got - want), tol)
          << "out[" << i << ", " << j << "] " << got << " vs " << want << " (x rounded to int8)";
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<QuantMatmulParam>& info) {
  const auto [isa, dtype, m, n, k, with_bias] = info.param;
  return std::string(matmul_isa_name(isa)) + "_" + std::string(dtype_name(dtype)) + "_" + std::to_string(m) +
         "x" + std::to_string(n) + "x" + std::to_string(k) + (with_bias ? "_bias" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, QuantMatmulTest,
    ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2, MatmulIsa::kAvx512),
                       ::testing::ValuesIn(kQuantTypes), ::testing::Values<int64_t>(1, 2, 3, 5, 17),
                       ::testing::Values<int64_t>(1, 7, 64, 257), ::testing::Values<int64_t>(256, 512, 4096),
                       ::testing::Bool()),
    param_name);

// Q4_K with 8 rows interleaved: whole groups of 8 rows only.
INSTANTIATE_TEST_SUITE_P(
    CpuInterleaved, QuantMatmulTest,
    ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2, MatmulIsa::kAvx512),
                       ::testing::Values(DType::kQ4_Kx8), ::testing::Values<int64_t>(1, 2, 4, 5, 17),
                       ::testing::Values<int64_t>(8, 64, 264), ::testing::Values<int64_t>(256, 512, 4096),
                       ::testing::Bool()),
    param_name);

// The interleaved layout changes only the order of the f32 additions of a decode row, and that order is the
// same on every instruction set: the scalar, AVX2 and VNNI decode kernels give the same bits. Prefill unpacks
// the groups and runs the plain Q4_K path: the same bits as plain Q4_K weights on each instruction set.
TEST(QuantMatmulInterleaved, SameBitsOnEveryInstructionSetAndPrefillAsPlainQ4K) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  const int64_t n = 136, k = 1024;
  const Tensor packed = quantized_tensor(DType::kQ4_Kx8, n, k, 90);
  const Tensor plain = quantized_tensor(DType::kQ4_K, n, k, 90);
  for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{9}}) {
    Tensor x = random_tensor(DType::kF32, Shape{m, k}, 91);
    x.as<float>()[5] = 0.0f;  // mixed magnitudes, a zero
    x.as<float>()[700] = 40.0f;
    const Tensor bias = random_tensor(DType::kF32, Shape{n}, 92);
    std::vector<std::vector<float>> results;
    for (MatmulIsa isa : {MatmulIsa::kScalar, MatmulIsa::kAvx2, MatmulIsa::kAvx512}) {
      if (!matmul_isa_supported(isa)) continue;
      IsaScope scope(isa);
      Tensor out = Tensor::host(DType::kF32, Shape{m, n});
      ASSERT_TRUE(matmul(backend, {x.view(), packed.view(), bias.view(), out.view()}).is_ok());
      results.emplace_back(out.as<float>(), out.as<float>() + m * n);
      if (m > kQuantStreamMaxM) {
        Tensor want = Tensor::host(DType::kF32, Shape{m, n});
        ASSERT_TRUE(matmul(backend, {x.view(), plain.view(), bias.view(), want.view()}).is_ok());
        EXPECT_EQ(std::memcmp(out.data(), want.data(), out.nbytes()), 0)
            << matmul_isa_name(isa) << " m " << m;
      }
    }
    if (m > kQuantStreamMaxM) continue;  // the f32 prefill kernels differ by instruction set
    for (size_t r = 1; r < results.size(); ++r)
      EXPECT_EQ(std::memcmp(results[0].data(), results[r].data(), results[0].size() * 4), 0)
          << "path " << r << " m " << m;
  }
}

TEST(QuantMatmulInterleaved, RejectsRowsThatAreNotWholeGroups) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  const Tensor w = quantized_tensor(DType::kQ4_Kx8, 16, 256, 3);
  const Tensor x = random_tensor(DType::kF32, Shape{1, 256}, 4);
  Tensor out = Tensor::host(DType::kF32, Shape{1, 12});
  const Status s = matmul(backend, {x.view(), w.view().rows(0, 12), {}, out.view()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  Tensor eight = Tensor::host(DType::kF32, Shape{1, 8});
  EXPECT_TRUE(matmul(backend, {x.view(), w.view().rows(8, 16), {}, eight.view()}).is_ok());
}

// 32-element blocks allow any multiple of 32.
TEST(QuantMatmul, Q8_0AndQ4_0TakeAnyMultipleOf32) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    for (int64_t m : {1, 6}) {
      const int64_t n = 9, k = 96;
      const Tensor x = random_tensor(DType::kF32, Shape{m, k}, 5);
      const Tensor w = quantized_tensor(dtype, n, k, 6);
      const Tensor w_f32 = dequantized(w);
      Tensor out = Tensor::host(DType::kF32, Shape{m, n});
      Tensor expected = Tensor::host(DType::kF32, Shape{m, n});
      ASSERT_TRUE(matmul(backend, {x.view(), w.view(), {}, out.view()}).is_ok());
      matmul_ref({x.view(), w_f32.view(), {}, expected.view()});
      for (int64_t i = 0; i < m * n; ++i) {
        const double tol = tolerance(x.as<float>() + (i / n) * k, w_f32.as<float>() + (i % n) * k, k, m <= 4);
        ASSERT_LE(std::fabs(out.as<float>()[i] - expected.as<float>()[i]), tol)
            << dtype_name(dtype) << " " << i;
      }
    }
  }
}

// The reference itself dequantizes block types through dequantize_row.
TEST(QuantMatmul, ReferenceOnBlocksEqualsReferenceOnDequantizedWeights) {
  for (DType dtype : kQuantTypes) {
    const Tensor x = random_tensor(DType::kF32, Shape{3, 512}, 8);
    const Tensor w = quantized_tensor(dtype, 5, 512, 9);
    Tensor a = Tensor::host(DType::kF32, Shape{3, 5});
    Tensor b = Tensor::host(DType::kF32, Shape{3, 5});
    matmul_ref({x.view(), w.view(), {}, a.view()});
    matmul_ref({x.view(), dequantized(w).view(), {}, b.view()});
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << dtype_name(dtype);
  }
}

// Rows do not depend on the thread count, nor (within a path) on the rows computed with them.
class QuantMatmulInvarianceTest : public ::testing::TestWithParam<std::tuple<MatmulIsa, DType>> {};

TEST_P(QuantMatmulInvarianceTest, RowsAreBitIdenticalAcrossThreadsAndBatches) {
  const auto [isa, dtype] = GetParam();
  if (!matmul_isa_supported(isa)) GTEST_SKIP() << matmul_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  const int64_t n = dtype == DType::kQ4_Kx8 ? 72 : 70, k = 512;
  const Tensor w = quantized_tensor(dtype, n, k, 31);
  CpuBackend two(BackendOptions{.n_threads = 2});
  CpuBackend three(BackendOptions{.n_threads = 3});
  for (int64_t m : {int64_t{3}, int64_t{37}}) {
    const Tensor x = random_tensor(DType::kF32, Shape{m, k}, 32);
    Tensor a = Tensor::host(DType::kF32, Shape{m, n});
    Tensor b = Tensor::host(DType::kF32, Shape{m, n});
    ASSERT_TRUE(matmul(two, {x.view(), w.view(), {}, a.view()}).is_ok());
    ASSERT_TRUE(matmul(three, {x.view(), w.view(), {}, b.view()}).is_ok());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << "m = " << m;
    // Decode: each row alone; prefill: windows of 5 rows (still the f32 path).
    const int64_t window = m <= kQuantStreamMaxM ? 1 : kQuantStreamMaxM + 1;
    for (int64_t i = 0; i + window <= m; i += window) {
      Tensor part = Tensor::host(DType::kF32, Shape{window, n});
      ASSERT_TRUE(matmul(two, {x.view().rows(i, i + window), w.view(), {}, part.view()}).is_ok());
      ASSERT_EQ(std::memcmp(part.data(), a.as<float>() + i * n, part.nbytes()), 0)
          << "m " << m << " row " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, QuantMatmulInvarianceTest,
                         ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2,
                                                              MatmulIsa::kAvx512),
                                            ::testing::Values(DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                                                              DType::kQ5_K, DType::kQ6_K, DType::kQ4_Kx8)));

// A NaN in x reaches every output of its row and no other, on both paths.
TEST(QuantMatmul, NonFiniteInputsPropagateToTheirRowOnly) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (DType dtype : kQuantTypes) {
    for (int64_t m : {2, 6}) {
      const int64_t n = 20, k = 256;
      Tensor x = random_tensor(DType::kF32, Shape{m, k}, 40);
      x.as<float>()[37] = std::numeric_limits<float>::quiet_NaN();  // row 0
      const Tensor w = quantized_tensor(dtype, n, k, 41);
      Tensor out = Tensor::host(DType::kF32, Shape{m, n});
      ASSERT_TRUE(matmul(backend, {x.view(), w.view(), {}, out.view()}).is_ok());
      for (int64_t j = 0; j < n; ++j) {
        EXPECT_TRUE(std::isnan(out.as<float>()[j])) << dtype_name(dtype) << " m " << m << " j " << j;
        EXPECT_TRUE(std::isfinite(out.as<float>()[n + j])) << dtype_name(dtype) << " m " << m << " j " << j;
      }
    }
  }
}

TEST(QuantMatmul, RejectsKThatIsNotAWholeNumberOfBlocks) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (DType dtype : kQuantTypes) {
    const int64_t k = dtype_block_elements(dtype) + 16;
    const Tensor x = random_tensor(DType::kF32, Shape{1, k}, 1);
    Tensor w = Tensor::host(dtype, Shape{2, k});
    Tensor out = Tensor::host(DType::kF32, Shape{1, 2});
    const Status s = matmul(backend, {x.view(), w.view(), {}, out.view()});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  }
}

// k = 0 is a whole number of blocks: every output is its bias.
TEST(QuantMatmul, EmptyRowsGiveTheBias) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (DType dtype : kQuantTypes) {
    for (int64_t m : {2, 6}) {
      const int64_t n = 5;
      Tensor x = Tensor::host(DType::kF32, Shape{m, 0});
      Tensor w = Tensor::host(dtype, Shape{n, 0});
      const Tensor bias = random_tensor(DType::kF32, Shape{n}, 70);
      GuardedOut out(Shape{m, n});
      ASSERT_TRUE(matmul(backend, {x.view(), w.view(), bias.view(), out.view()}).is_ok());
      out.expect_clean();
      const std::vector<float> values = out.values();
      for (int64_t i = 0; i < m * n; ++i)
        ASSERT_EQ(values[i], bias.as<float>()[i % n]) << dtype_name(dtype) << " m " << m;
    }
  }
}

// ---- embedding ----

class QuantEmbeddingTest : public ::testing::TestWithParam<std::tuple<MatmulIsa, DType>> {};

TEST_P(QuantEmbeddingTest, GathersTheDequantizedRowsExactly) {
  const auto [isa, dtype] = GetParam();
  if (!matmul_isa_supported(isa)) GTEST_SKIP() << matmul_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  CpuBackend backend(BackendOptions{.n_threads = 2});
  const int64_t vocab = 50, d = 512;
  const Tensor table = quantized_tensor(dtype, vocab, d, 50);
  for (int64_t t : {int64_t{1}, int64_t{7}, int64_t{300}}) {  // 300 x 512 runs on both threads
    Tensor ids = Tensor::host(DType::kI32, Shape{t});
    for (int64_t r = 0; r < t; ++r)
      ids.as<int32_t>()[r] = static_cast<int32_t>(r == 0 ? vocab - 1 : (r * 13) % vocab);
    Tensor out = Tensor::host(DType::kF32, Shape{t, d});
    std::memset(out.data(), 0xff, out.nbytes());  // NaN poison
    ASSERT_TRUE(embedding(backend, {ids.view(), table.view(), out.view()}).is_ok());
    Tensor expected = Tensor::host(DType::kF32, Shape{t, d});
    embedding_ref({ids.view(), table.view(), expected.view()});
    EXPECT_EQ(std::memcmp(out.data(), expected.data(), out.nbytes()), 0) << "t = " << t;
    // And the reference is dequantize_row of the row's blocks.
    std::vector<float> row(static_cast<size_t>(d));
    const size_t row_bytes = dtype_bytes(dtype, d);
    dequantize_row(dtype, static_cast<const uint8_t*>(table.data()) + (vocab - 1) * row_bytes, row.data(), d);
    EXPECT_EQ(std::memcmp(row.data(), out.data(), row.size() * sizeof(float)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, QuantEmbeddingTest,
                         ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2,
                                                              MatmulIsa::kAvx512),
                                            ::testing::ValuesIn(kQuantTypes)));

// The vectorized x quantizer writes the scalar one's bytes, non-finite blocks included.
TEST(QuantizeX, Avx2MatchesScalar) {
  if (!matmul_isa_supported(MatmulIsa::kAvx2)) GTEST_SKIP() << "no AVX2";
  const int64_t k = 4096;
  Tensor x = random_tensor(DType::kF32, Shape{k}, 60, -3.0f, 3.0f);
  float* v = x.as<float>();
  for (int64_t p = 32; p < 64; ++p)
    v[p] = 0.0f;                                     // all-zero block
  v[100] = std::numeric_limits<float>::quiet_NaN();  // NaN block
  v[170] = -std::numeric_limits<float>::infinity();  // inf block
  for (int64_t p = 256; p < 288; ++p)
    v[p] = static_cast<float>(p - 272) + 0.5f;  // exact ties: 127 / amax = 1
  v[256] = 127.0f;
  v[300] = 1e-30f;  // tiny block
  std::vector<int8_t> q1(k), q2(k);
  std::vector<float> d1(k / 32), d2(k / 32), a1(k / 32), a2(k / 32), b1(k / 16), b2(k / 16);
  quantize_x_row_scalar(v, k, q1.data(), d1.data(), a1.data(), b1.data());
  quantize_x_row_avx2(v, k, q2.data(), d2.data(), a2.data(), b2.data());
  EXPECT_EQ(q1, q2);
  EXPECT_EQ(std::memcmp(d1.data(), d2.data(), d1.size() * 4), 0);
  EXPECT_EQ(std::memcmp(a1.data(), a2.data(), a1.size() * 4), 0);
  EXPECT_EQ(std::memcmp(b1.data(), b2.data(), b1.size() * 4), 0);
  EXPECT_TRUE(std::isnan(d1[3]) && std::isnan(d1[5]));
}

TEST(QuantEmbedding, RejectsRowsThatAreNotAWholeNumberOfBlocks) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (DType dtype : kQuantTypes) {
    const int64_t d = dtype_block_elements(dtype) / 2;
    Tensor table = Tensor::host(dtype, Shape{4, 2 * d});  // allocate whole blocks, then view a half row
    TensorView half = table.view();
    half.shape = Shape{4, d};
    Tensor ids = Tensor::host(DType::kI32, Shape{1});
    ids.as<int32_t>()[0] = 1;
    Tensor out = Tensor::host(DType::kF32, Shape{1, d});
    const Status s = embedding(backend, {ids.view(), half, out.view()});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  }
}

// The prefill path's dequantizers are bit-identical to dequantize_row on every ISA, over random bytes
// (finite scales): any code, any scale packing.
TEST(QuantDequantizers, MatchTheReferenceOnRandomBlocks) {
  std::mt19937_64 rng(99);
  for (MatmulIsa isa : {MatmulIsa::kScalar, MatmulIsa::kAvx2, MatmulIsa::kAvx512}) {
    if (!matmul_isa_supported(isa)) continue;
    IsaScope scope(isa);
    for (DType dtype : kQuantTypes) {
      const int64_t n = 1024;
      std::vector<uint8_t> bytes(dtype_bytes(dtype, n));
      for (auto& b : bytes)
        b = static_cast<uint8_t>(rng());
      // Keep the f16 scales finite: clear bit 14 (the exponent's top bit) of every f16 field.
      const size_t block = dtype_size(dtype);
      for (size_t off = 0; off < bytes.size(); off += block) {
        if (dtype == DType::kQ6_K) {
          bytes[off + 209] &= 0xbf;
        } else {
          bytes[off + 1] &= 0xbf;
          if (dtype == DType::kQ4_K || dtype == DType::kQ5_K) bytes[off + 3] &= 0xbf;
        }
      }
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      dequantize_row(dtype, bytes.data(), want.data(), n);
      quant_kernels(dtype).dequantize(bytes.data(), got.data(), n);
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
          << matmul_isa_name(isa) << " " << dtype_name(dtype);
    }
  }
}

}  // namespace
}  // namespace autoglm

// The CPU matmul against its scalar double-accumulation reference (kernels/ref/matmul_ref.cpp), on every
// instruction-set path this CPU supports, with guard elements around the output and NaN poisoning inside it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "backend/cpu/kernels/ref/matmul_ref.h"
#include "core/half.h"
#include "ops/matmul.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::GuardedOut;
using test::random_tensor;
using test::rel_max_abs_error;

struct Problem {
  Tensor x, w, bias;
};

Problem make_problem(DType w_dtype, int64_t m, int64_t n, int64_t k, bool with_bias, uint64_t seed) {
  Problem p;
  p.x = random_tensor(DType::kF32, Shape{m, k}, seed);
  p.w = random_tensor(w_dtype, Shape{n, k}, seed + 1);
  if (with_bias) p.bias = random_tensor(DType::kF32, Shape{n}, seed + 2);
  return p;
}

// The problem as the kernels of `isa` compute it: bf16 weights under kAvx512Bf16 multiply x rounded to bf16.
Problem x_as_computed(const Problem& p, MatmulIsa isa) {
  if (isa != MatmulIsa::kAvx512Bf16 || p.w.dtype() != DType::kBF16) return p;
  Problem rounded = p;
  rounded.x = Tensor::host(DType::kF32, p.x.shape());
  for (int64_t i = 0; i < p.x.numel(); ++i)
    rounded.x.as<float>()[i] = bf16_to_f32(f32_to_bf16(p.x.as<float>()[i]));
  return rounded;
}

MatmulArgs args_for(const Problem& p, const TensorView& out) {
  MatmulArgs a{p.x.view(), p.w.view(), {}, out};
  if (p.bias.defined()) a.bias = p.bias.view();
  return a;
}

// Selects an instruction-set path for one test and restores the previous one.
class IsaScope {
 public:
  explicit IsaScope(MatmulIsa isa) : previous_(matmul_set_isa(isa)) {}
  ~IsaScope() { matmul_set_isa(previous_); }

 private:
  MatmulIsa previous_;
};

struct Mnk {
  int64_t m, n, k;
};

const Mnk kShapes[] = {
    {1, 1, 1},    {1, 3, 127},  {1, 4097, 67}, {5, 33, 129}, {17, 64, 96}, {64, 100, 768},
    {1, 64, 768}, {2, 7, 1},    {3, 1, 33},    {4, 5, 16},   {6, 17, 15},  {9, 3, 257},
    {33, 19, 31}, {7, 2, 2048}, {3, 5, 0},     {4, 8, 8},    {130, 6, 40}, {2, 300, 100},
};

using MatmulParam = std::tuple<MatmulIsa, DType, int, bool>;

class MatmulTest : public ::testing::TestWithParam<MatmulParam> {};

TEST_P(MatmulTest, MatchesReference) {
  const auto [isa, dtype, shape_index, with_bias] = GetParam();
  if (!matmul_isa_supported(isa)) GTEST_SKIP() << matmul_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  const Mnk s = kShapes[shape_index];
  CpuBackend backend(BackendOptions{.n_threads = 2});
  const Problem p = make_problem(dtype, s.m, s.n, s.k, with_bias, 1000 + shape_index);

  GuardedOut out(Shape{s.m, s.n});
  ASSERT_TRUE(matmul(backend, args_for(p, out.view())).is_ok());
  out.expect_clean();

  Tensor expected = Tensor::host(DType::kF32, Shape{s.m, s.n});
  matmul_ref(args_for(x_as_computed(p, isa), expected.view()));
  EXPECT_LE(rel_max_abs_error(out.values(), test::to_f32(expected.view())), 1e-5);
}

// The bf16 dot products multiply x rounded to bf16: the result is the exact one of the rounded x, and not
// that of x itself.
TEST(MatmulBf16Dot, MultipliesXRoundedToBf16) {
  if (!matmul_isa_supported(MatmulIsa::kAvx512Bf16)) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  IsaScope scope(MatmulIsa::kAvx512Bf16);
  CpuBackend backend(BackendOptions{.n_threads = 2});
  for (int64_t m : {1, 3, 40}) {
    const Problem p = make_problem(DType::kBF16, m, 24, 300, false, 5);
    Tensor got = Tensor::host(DType::kF32, Shape{m, 24});
    ASSERT_TRUE(matmul(backend, args_for(p, got.view())).is_ok());
    Tensor rounded = Tensor::host(DType::kF32, Shape{m, 24});
    Tensor exact = Tensor::host(DType::kF32, Shape{m, 24});
    matmul_ref(args_for(x_as_computed(p, MatmulIsa::kAvx512Bf16), rounded.view()));
    matmul_ref(args_for(p, exact.view()));
    const std::vector<float> values = test::to_f32(got.view());
    EXPECT_LE(rel_max_abs_error(values, test::to_f32(rounded.view())), 1e-5) << m;
    EXPECT_GT(rel_max_abs_error(values, test::to_f32(exact.view())), 1e-4) << m;
  }
}

std::string param_name(const ::testing::TestParamInfo<MatmulParam>& info) {
  const auto [isa, dtype, shape_index, with_bias] = info.param;
  const Mnk s = kShapes[shape_index];
  return std::string(matmul_isa_name(isa)) + "_" + std::string(dtype_name(dtype)) + "_" +
         std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
         (with_bias ? "_bias" : "");
}

INSTANTIATE_TEST_SUITE_P(Cpu, MatmulTest,
                         ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2,
                                                              MatmulIsa::kAvx512, MatmulIsa::kAvx512Bf16),
                                            ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                                            ::testing::Range(0, static_cast<int>(std::size(kShapes))),
                                            ::testing::Bool()),
                         param_name);

// A row's result must not depend on the rows computed with it, nor on the thread count: the engine relies on
// this for batch-invariant decoding.
class MatmulInvarianceTest : public ::testing::TestWithParam<std::tuple<MatmulIsa, DType>> {};

TEST_P(MatmulInvarianceTest, RowsAreBitIdenticalAcrossBatchAndThreads) {
  const auto [isa, dtype] = GetParam();
  if (!matmul_isa_supported(isa)) GTEST_SKIP() << matmul_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  const int64_t m = 37, n = 70, k = 203;
  const Problem p = make_problem(dtype, m, n, k, true, 77);
  CpuBackend two(BackendOptions{.n_threads = 2});
  CpuBackend three(BackendOptions{.n_threads = 3});
  Tensor batched = Tensor::host(DType::kF32, Shape{m, n});
  Tensor other_threads = Tensor::host(DType::kF32, Shape{m, n});
  ASSERT_TRUE(matmul(two, args_for(p, batched.view())).is_ok());
  ASSERT_TRUE(matmul(three, args_for(p, other_threads.view())).is_ok());
  EXPECT_EQ(std::memcmp(batched.data(), other_threads.data(), batched.nbytes()), 0);

  for (int64_t i = 0; i < m; ++i) {
    Tensor single = Tensor::host(DType::kF32, Shape{1, n});
    MatmulArgs a = args_for(p, single.view());
    a.x = p.x.view().rows(i, i + 1);
    ASSERT_TRUE(matmul(two, a).is_ok());
    ASSERT_EQ(std::memcmp(single.data(), batched.as<float>() + i * n, single.nbytes()), 0) << "row " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, MatmulInvarianceTest,
                         ::testing::Combine(::testing::Values(MatmulIsa::kScalar, MatmulIsa::kAvx2,
                                                              MatmulIsa::kAvx512, MatmulIsa::kAvx512Bf16),
                                            ::testing::Values(DType::kF32, DType::kF16, DType::kBF16)));

class MatmulErrorTest : public ::testing::Test {
 protected:
  CpuBackend backend_{BackendOptions{.n_threads = 2}};
  Tensor x_ = random_tensor(DType::kF32, Shape{2, 8}, 1);
  Tensor w_ = random_tensor(DType::kF32, Shape{4, 8}, 2);
  Tensor out_ = Tensor::host(DType::kF32, Shape{2, 4});
};

TEST_F(MatmulErrorTest, AcceptsTheBaseCase) {
  EXPECT_TRUE(matmul(backend_, {x_.view(), w_.view(), {}, out_.view()}).is_ok());
}

TEST_F(MatmulErrorTest, RejectsMismatchedK) {
  Tensor w = random_tensor(DType::kF32, Shape{4, 9}, 3);
  const Status s = matmul(backend_, {x_.view(), w.view(), {}, out_.view()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

TEST_F(MatmulErrorTest, RejectsWrongOutShape) {
  Tensor out = Tensor::host(DType::kF32, Shape{2, 5});
  const Status s = matmul(backend_, {x_.view(), w_.view(), {}, out.view()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

TEST_F(MatmulErrorTest, RejectsOutAliasingX) {
  Tensor x = random_tensor(DType::kF32, Shape{2, 4}, 4);
  Tensor w = random_tensor(DType::kF32, Shape{4, 4}, 5);
  const Status s = matmul(backend_, {x.view(), w.view(), {}, x.view()});
  EXPECT_FALSE(s.is_ok());
}

TEST_F(MatmulErrorTest, RejectsI32Weights) {
  Tensor w = Tensor::host(DType::kI32, Shape{4, 8});
  std::memset(w.data(), 0, w.nbytes());
  const Status s = matmul(backend_, {x_.view(), w.view(), {}, out_.view()});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.to_string();
}

TEST_F(MatmulErrorTest, RejectsNonF32Activations) {
  Tensor x = random_tensor(DType::kF16, Shape{2, 8}, 6);
  const Status s = matmul(backend_, {x.view(), w_.view(), {}, out_.view()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

// x of the weights' 16-bit type (graph/matmul_input_pass.h): the CPU widens it, so the result is that of the
// f32 x with the same values, bit for bit; a 16-bit x of another type than w's is refused.
TEST_F(MatmulErrorTest, TakesSixteenBitXOfTheWeightsType) {
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    const Tensor x16 = random_tensor(dtype, Shape{3, 40}, 8);
    const Tensor w = random_tensor(dtype, Shape{5, 40}, 9);
    const Tensor x32 = Tensor::host(DType::kF32, Shape{3, 40});
    const std::vector<float> widened = test::to_f32(x16.view());
    std::memcpy(x32.data(), widened.data(), x32.nbytes());
    Tensor want = Tensor::host(DType::kF32, Shape{3, 5}), got = Tensor::host(DType::kF32, Shape{3, 5});
    ASSERT_TRUE(matmul(backend_, {x32.view(), w.view(), {}, want.view()}).is_ok());
    ASSERT_TRUE(matmul(backend_, {x16.view(), w.view(), {}, got.view()}).is_ok());
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.nbytes()), 0) << dtype_name(dtype);
    const Tensor w_other =
        random_tensor(dtype == DType::kBF16 ? DType::kF16 : DType::kBF16, Shape{5, 40}, 10);
    EXPECT_EQ(matmul(backend_, {x16.view(), w_other.view(), {}, got.view()}).code(),
              StatusCode::kInvalidArgument);
  }
}

TEST_F(MatmulErrorTest, RejectsWrongBiasShape) {
  Tensor bias = random_tensor(DType::kF32, Shape{5}, 7);
  const Status s = matmul(backend_, {x_.view(), w_.view(), bias.view(), out_.view()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

}  // namespace
}  // namespace autoglm

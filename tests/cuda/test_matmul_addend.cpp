// matmul and matmul_swiglu with an addend (the residual add folded into the projection, ops/matmul.h) on
// CUDA equal the same call without it followed by the add, bit for bit, on every path: the GEMV (m = 1),
// the skinny GEMM (m = 1 batch-invariant, 8, 16), cuBLASLt (17, 130, 300: the addend as C with beta = 1),
// f32 and bf16 weights, f32 and 16-bit x, with a bias (added first, then the addend by a kernel) and
// without; out is written only inside its bounds and the addend is left as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/add.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;

// The weight and x dtypes of a case.
struct Operands {
  DType w;
  bool x_16bit;  // x in w's 16-bit type (the graph's 16-bit activations), else f32
};
const Operands kOperands[] = {{DType::kF32, false}, {DType::kBF16, false}, {DType::kBF16, true}};

// The operands of one case on the device: x [m, x_cols], w [n, k], a bias and an addend [m, n].
struct Problem {
  int64_t m, n;
  Tensor addend, dx, dw, db, da;
  TensorView bias;  // db's view, or empty
};

Problem make_problem(Backend& cuda, const Operands& operands, int64_t m, int64_t x_cols, int64_t n, int64_t k,
                     bool with_bias, uint64_t seed) {
  Problem p{m, n};
  const Tensor x32 = random_tensor(DType::kF32, Shape{m, x_cols}, seed, -3.0f, 3.0f);
  p.dx = test::to_device(cuda, operands.x_16bit ? test::rounded_16bit(x32, operands.w) : x32);
  p.dw = test::to_device(cuda, random_tensor(operands.w, Shape{n, k}, seed + 1));
  p.db = test::to_device(cuda, random_tensor(DType::kF32, Shape{n}, seed + 2));
  p.addend = random_tensor(DType::kF32, Shape{m, n}, seed + 3, -8.0f, 8.0f);
  p.da = test::to_device(cuda, p.addend);
  p.bias = with_bias ? p.db.view() : TensorView{};
  return p;
}

// run(out, addend) with the addend gives the bits of run(out, {}) followed by the add op; out is written only
// inside its bounds and the addend is left as it was.
void expect_the_add_folded(
    Backend& cuda, const Problem& p,
    const std::function<Status(const TensorView& out, const TensorView& addend)>& run) {
  GuardedDeviceOut plain(cuda, Shape{p.m, p.n}), summed(cuda, Shape{p.m, p.n}), fused(cuda, Shape{p.m, p.n});
  ASSERT_TRUE(run(plain.view(), {}).is_ok());
  ASSERT_TRUE(add(cuda, {p.da.view(), plain.view(), summed.view()}).is_ok());
  const Status s = run(fused.view(), p.da.view());
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_TRUE(cuda.synchronize().is_ok());
  fused.expect_clean();
  EXPECT_EQ(fused.values(), summed.values());
  const Tensor after = test::to_host(cuda, p.da.view());
  EXPECT_EQ(std::memcmp(after.data(), p.addend.data(), p.addend.nbytes()), 0) << "the addend was written";
}

// operands, m, bias, batch-invariant
using Case = std::tuple<Operands, int64_t, bool, bool>;

class CudaMatmulAddend : public ::testing::TestWithParam<Case> {};

TEST_P(CudaMatmulAddend, EqualsTheMatmulThenTheAdd) {
  const auto [operands, m, with_bias, invariant] = GetParam();
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Problem p =
      make_problem(*cuda, operands, m, 256, 320, 256, with_bias, 700 + static_cast<uint64_t>(m));
  expect_the_add_folded(*cuda, p, [&](const TensorView& out, const TensorView& addend) {
    MatmulArgs args{p.dx.view(), p.dw.view(), p.bias, out, invariant};
    args.addend = addend;
    return matmul(*cuda, args);
  });
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulAddend,
                         ::testing::Combine(::testing::ValuesIn(kOperands),
                                            ::testing::Values<int64_t>(1, 8, 16, 17, 130, 300),
                                            ::testing::Bool(), ::testing::Bool()));

// operands (x = [gate | up]), m, bias
using SwigluCase = std::tuple<Operands, int64_t, bool>;

class CudaMatmulSwigluAddend : public ::testing::TestWithParam<SwigluCase> {};

TEST_P(CudaMatmulSwigluAddend, EqualsTheMatmulSwigluThenTheAdd) {
  const auto [operands, m, with_bias] = GetParam();
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Problem p =
      make_problem(*cuda, operands, m, 512, 192, 256, with_bias, 800 + static_cast<uint64_t>(m));
  expect_the_add_folded(*cuda, p, [&](const TensorView& out, const TensorView& addend) {
    MatmulSwigluArgs args{p.dx.view(), p.dw.view(), p.bias, out, true};
    args.addend = addend;
    return matmul_swiglu(*cuda, args);
  });
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMatmulSwigluAddend,
                         ::testing::Combine(::testing::ValuesIn(kOperands),
                                            ::testing::Values<int64_t>(1, 8, 17, 300), ::testing::Bool()));

}  // namespace
}  // namespace autoglm

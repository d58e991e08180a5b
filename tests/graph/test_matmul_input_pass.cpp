// SixteenBitMatmulInputs: which norms it retypes, that views keep their bytes, and that the rewritten graph
// computes what rounding the norm's f32 output to bf16 before the matmul computes (CPU executor).
#include <gtest/gtest.h>

#include <vector>

#include "backend/backend.h"
#include "core/half.h"
#include "graph/executor.h"
#include "graph/matmul_input_pass.h"
#include "ops/matmul.h"
#include "ops/rms_norm.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::unique_ptr<Backend> cpu() {
  return std::move(create_backend("cpu", {.n_threads = 2}).value());
}

struct Operands {
  Tensor x = test::random_tensor(DType::kF32, Shape{5, 32}, 1, -2.0f, 2.0f);
  Tensor residual = test::random_tensor(DType::kF32, Shape{5, 32}, 2);
  Tensor norm = test::random_tensor(DType::kF32, Shape{32}, 3, 0.5f, 1.5f);
  Tensor w16 = test::random_tensor(DType::kBF16, Shape{24, 32}, 4);
  Tensor w32 = test::random_tensor(DType::kF32, Shape{24, 32}, 5);
};

struct Built {
  Graph g;
  ValueId plain_norm, f32_norm, shared_norm, both;
  ValueId to_16bit, to_f32, shared_out, fused_out, sum;
};

// Four norms: one read only by a bf16 matmul, one by an f32 matmul, one by a bf16 matmul and an add, and a
// fused add + norm whose normalized half feeds a bf16 matmul (its sum half an add).
Built build(const Operands& o) {
  Built b;
  Graph& g = b.g;
  const ValueId x = g.input("x", o.x.view());
  const ValueId r = g.input("r", o.residual.view());
  const ValueId norm = g.weight("norm", o.norm.view());
  const ValueId w16 = g.weight("w16", o.w16.view());
  const ValueId w32 = g.weight("w32", o.w32.view());
  b.plain_norm = g.rms_norm(x, norm, 1e-5f);
  b.to_16bit = g.matmul(b.plain_norm, w16);
  b.f32_norm = g.rms_norm(x, norm, 1e-5f);
  b.to_f32 = g.matmul(b.f32_norm, w32);
  b.shared_norm = g.rms_norm(x, norm, 1e-5f);
  b.shared_out = g.add(g.matmul(b.shared_norm, w16), g.matmul(b.shared_norm, w32));
  b.shared_out = g.add(b.shared_out, g.matmul(b.shared_norm, w32));
  b.both = g.add_rms_norm(x, r, norm, 1e-5f);
  const Shape shape{5, 32};
  b.sum = g.add(g.reshape(g.rows(b.both, 0, 1), shape), x);
  b.fused_out = g.matmul(g.reshape(g.rows(b.both, 1, 2), shape), w16);
  for (ValueId v : {b.to_16bit, b.to_f32, b.shared_out, b.fused_out, b.sum})
    g.mark_output(v);
  return b;
}

DType norm_dtype(const Graph& g, ValueId norm_output) {
  for (const Node& n : g.nodes()) {
    if (n.output == norm_output) return std::get<NormAttrs>(n.attrs).out_dtype;
  }
  return DType::kI32;
}

std::vector<float> run(Executor& executor, const Graph& g, ValueId v) {
  const TensorView t = executor.value(g, v);
  return test::to_f32(t);
}

TEST(SixteenBitMatmulInputs, RetypesOnlyNormsReadBySixteenBitMatmuls) {
  const Operands o;
  Built b = build(o);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(b.g).is_ok());
  EXPECT_EQ(norm_dtype(b.g, b.plain_norm), DType::kBF16);
  EXPECT_EQ(b.g.value(b.plain_norm).dtype, DType::kBF16);
  EXPECT_EQ(norm_dtype(b.g, b.f32_norm), DType::kF32);
  EXPECT_EQ(b.g.value(b.f32_norm).dtype, DType::kF32);
  EXPECT_EQ(norm_dtype(b.g, b.shared_norm), DType::kF32);
  EXPECT_EQ(norm_dtype(b.g, b.both), DType::kBF16);
  EXPECT_EQ(b.g.value(b.both).dtype, DType::kF32) << "the stacked output keeps the f32 sum";
  // The normalized half's views are bf16 and still start at the stacked value's second half.
  const Value& normed = b.g.value(b.g.nodes().back().inputs[0]);  // the last matmul's x
  EXPECT_EQ(normed.dtype, DType::kBF16);
  const Value& rows = b.g.value(normed.view_of);
  EXPECT_EQ(rows.dtype, DType::kBF16);
  EXPECT_EQ(dtype_bytes(rows.dtype, rows.view_offset), dtype_bytes(DType::kF32, 5 * 32));
}

TEST(SixteenBitMatmulInputs, ComputesTheMatmulOfTheRoundedNorm) {
  const Operands o;
  auto backend = cpu();
  Built plain = build(o), rewritten = build(o);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(rewritten.g).is_ok());
  Executor e1(*backend), e2(*backend);
  ASSERT_TRUE(e1.run(plain.g).is_ok());
  ASSERT_TRUE(e2.run(rewritten.g).is_ok());
  // Untouched branches: the same bits.
  EXPECT_EQ(run(e1, plain.g, plain.to_f32), run(e2, rewritten.g, rewritten.to_f32));
  EXPECT_EQ(run(e1, plain.g, plain.shared_out), run(e2, rewritten.g, rewritten.shared_out));
  EXPECT_EQ(run(e1, plain.g, plain.sum), run(e2, rewritten.g, rewritten.sum));

  // Retyped: the matmul of the f32 norm rounded to bf16, by direct op calls.
  auto expected = [&](const Tensor* residual) {
    Tensor normed = Tensor::host(DType::kF32, Shape{5, 32});
    Tensor sum = Tensor::host(DType::kF32, Shape{5, 32});
    RmsNormArgs args{o.x.view(), o.norm.view(), 1e-5f, normed.view()};
    if (residual != nullptr) {
      args.residual = residual->view();
      args.sum_out = sum.view();
    }
    EXPECT_TRUE(rms_norm(*backend, args).is_ok());
    for (int64_t i = 0; i < normed.numel(); ++i)
      normed.as<float>()[i] = bf16_to_f32(f32_to_bf16(normed.as<float>()[i]));
    Tensor out = Tensor::host(DType::kF32, Shape{5, 24});
    EXPECT_TRUE(matmul(*backend, {normed.view(), o.w16.view(), {}, out.view()}).is_ok());
    return test::to_f32(out.view());
  };
  EXPECT_EQ(run(e2, rewritten.g, rewritten.to_16bit), expected(nullptr));
  EXPECT_EQ(run(e2, rewritten.g, rewritten.fused_out), expected(&o.residual));
  // And it differs from the f32 path only by that rounding.
  EXPECT_LE(
      test::rel_max_abs_error(run(e2, rewritten.g, rewritten.to_16bit), run(e1, plain.g, plain.to_16bit)),
      2e-2);
}

TEST(SixteenBitMatmulInputs, LeavesGraphOutputsAndNonMatmulReadersAlone) {
  const Operands o;
  Graph g;
  const ValueId x = g.input("x", o.x.view());
  const ValueId norm = g.weight("norm", o.norm.view());
  const ValueId out_norm = g.rms_norm(x, norm, 1e-5f);
  g.matmul(out_norm, g.weight("w16", o.w16.view()));
  g.mark_output(out_norm);
  // A norm read as a matmul's weight, not its x.
  const Tensor y = test::random_tensor(DType::kF32, Shape{24, 32}, 6);
  const ValueId w_norm = g.rms_norm(g.input("y", y.view()), norm, 1e-5f);
  g.mark_output(g.matmul(x, w_norm));
  ASSERT_TRUE(SixteenBitMatmulInputs().run(g).is_ok());
  EXPECT_EQ(norm_dtype(g, out_norm), DType::kF32);
  EXPECT_EQ(norm_dtype(g, w_norm), DType::kF32);
}

}  // namespace
}  // namespace autoglm

// SixteenBitGateUpOutput: which matmul outputs it retypes, and that the rewritten graph computes the down
// projection of the gate/up output rounded to bf16 (CPU executor; the CPU matmul rounds its f32 result).
#include "graph/gate_up_output_pass.h"

#include <gtest/gtest.h>

#include <vector>

#include "backend/backend.h"
#include "core/half.h"
#include "graph/executor.h"
#include "ops/matmul.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

struct Operands {
  Tensor x = test::random_tensor(DType::kF32, Shape{5, 32}, 11, -2.0f, 2.0f);
  Tensor gate_up16 = test::random_tensor(DType::kBF16, Shape{48, 32}, 12);
  Tensor down16 = test::random_tensor(DType::kBF16, Shape{16, 24}, 13);
  Tensor gate_up32 = test::random_tensor(DType::kF32, Shape{48, 32}, 14);
  Tensor down32 = test::random_tensor(DType::kF32, Shape{16, 24}, 15);
  Tensor bias = test::random_tensor(DType::kF32, Shape{48}, 16);
};

TEST(SixteenBitGateUpOutput, RetypesOnlyGateUpOutputsReadByASixteenBitDownProjection) {
  const Operands o;
  Graph g;
  const ValueId x = g.input("x", o.x.view());
  const ValueId gu16 = g.weight("gu16", o.gate_up16.view()), down16 = g.weight("d16", o.down16.view());
  const ValueId gu32 = g.weight("gu32", o.gate_up32.view()), down32 = g.weight("d32", o.down32.view());
  const ValueId bias = g.weight("bias", o.bias.view());
  const ValueId plain = g.matmul(x, gu16);  // the case the pass is for
  g.mark_output(g.matmul_swiglu(plain, down16));
  const ValueId f32_weights = g.matmul(x, gu32);
  g.mark_output(g.matmul_swiglu(f32_weights, down32));
  const ValueId with_bias = g.matmul(x, gu16, bias);
  g.mark_output(g.matmul_swiglu(with_bias, down16));
  const ValueId to_f32_down = g.matmul(x, gu16);  // 16-bit gate/up, f32 down weights
  g.mark_output(g.matmul_swiglu(to_f32_down, down32));
  const ValueId also_added = g.matmul(x, gu16);
  g.mark_output(g.matmul_swiglu(also_added, down16));
  g.mark_output(g.add(also_added, also_added));
  const ValueId is_output = g.matmul(x, gu16);
  g.mark_output(g.matmul_swiglu(is_output, down16));
  g.mark_output(is_output);
  const ValueId viewed = g.matmul(x, gu16);
  g.mark_output(g.matmul_swiglu(g.reshape(viewed, Shape{5, 48}), down16));

  ASSERT_TRUE(SixteenBitGateUpOutput().run(g).is_ok());
  EXPECT_EQ(g.value(plain).dtype, DType::kBF16);
  for (ValueId v : {f32_weights, with_bias, to_f32_down, also_added, is_output, viewed})
    EXPECT_EQ(g.value(v).dtype, DType::kF32) << "value " << v.index;
}

TEST(SixteenBitGateUpOutput, ComputesTheDownProjectionOfTheRoundedGateUp) {
  const Operands o;
  auto backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  auto build = [&](Graph& g) {
    const ValueId gate_up = g.matmul(g.input("x", o.x.view()), g.weight("gu", o.gate_up16.view()));
    const ValueId down = g.matmul_swiglu(gate_up, g.weight("d", o.down16.view()));
    g.mark_output(down);
    return down;
  };
  Graph plain, rewritten;
  const ValueId plain_out = build(plain), rewritten_out = build(rewritten);
  ASSERT_TRUE(SixteenBitGateUpOutput().run(rewritten).is_ok());
  Executor e1(*backend), e2(*backend);
  ASSERT_TRUE(e1.run(plain).is_ok());
  ASSERT_TRUE(e2.run(rewritten).is_ok());

  // By direct op calls: the f32 gate/up rounded to bf16, then the down projection of its SwiGLU.
  Tensor gate_up = Tensor::host(DType::kF32, Shape{5, 48});
  ASSERT_TRUE(matmul(*backend, {o.x.view(), o.gate_up16.view(), {}, gate_up.view()}).is_ok());
  for (int64_t i = 0; i < gate_up.numel(); ++i)
    gate_up.as<float>()[i] = bf16_to_f32(f32_to_bf16(gate_up.as<float>()[i]));
  Tensor expected = Tensor::host(DType::kF32, Shape{5, 16});
  ASSERT_TRUE(matmul_swiglu(*backend, {gate_up.view(), o.down16.view(), {}, expected.view()}).is_ok());
  const std::vector<float> got = test::to_f32(e2.value(rewritten, rewritten_out));
  EXPECT_EQ(got, test::to_f32(expected.view()));
  // And it differs from the f32 gate/up only by that rounding.
  EXPECT_LE(test::rel_max_abs_error(got, test::to_f32(e1.value(plain, plain_out))), 2e-2);
  EXPECT_GT(test::rel_max_abs_error(got, test::to_f32(e1.value(plain, plain_out))), 0);
}

}  // namespace
}  // namespace autoglm

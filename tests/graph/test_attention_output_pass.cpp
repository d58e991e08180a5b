// SixteenBitMatmulInputs on paged attention: a paged attention over bf16 caches whose rows only a bf16 o
// projection reads writes them in bf16, and the rewritten graph computes what rounding its f32 rows to bf16
// before the projection computes (CPU executor; the op rounds an f32 temporary there). Over f32 caches, or
// with another reader of the rows, nothing changes.
#include <gtest/gtest.h>

#include <vector>

#include "backend/backend.h"
#include "core/half.h"
#include "graph/executor.h"
#include "graph/matmul_input_pass.h"
#include "ops/matmul.h"
#include "ops/paged_attention.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr int64_t kRows = 5, kHeads = 4, kKvHeads = 2, kDim = 16, kBlock = 4;

// Two sequences of 2 and 3 prompt rows over blocks {0, 1} and {2, 3} of a 16-row cache.
struct Operands {
  explicit Operands(DType cache_dtype)
      : k(test::random_tensor(cache_dtype, Shape{16, kKvHeads, kDim}, 2)),
        v(test::random_tensor(cache_dtype, Shape{16, kKvHeads, kDim}, 3)) {
    const int32_t tables[] = {0, 1, 2, 3}, starts[] = {0, 2, 5}, lens[] = {2, 3};
    std::copy(std::begin(tables), std::end(tables), block_tables.as<int32_t>());
    std::copy(std::begin(starts), std::end(starts), q_start.as<int32_t>());
    std::copy(std::begin(lens), std::end(lens), seq_lens.as<int32_t>());
  }
  Tensor q = test::random_tensor(DType::kF32, Shape{kRows, kHeads, kDim}, 1);
  Tensor k, v;
  Tensor block_tables = Tensor::host(DType::kI32, Shape{2, 2});
  Tensor q_start = Tensor::host(DType::kI32, Shape{3});
  Tensor seq_lens = Tensor::host(DType::kI32, Shape{2});
  Tensor wo = test::random_tensor(DType::kBF16, Shape{24, kHeads* kDim}, 4);
};

PagedAttentionAttrs attrs() {
  PagedAttentionAttrs a;
  a.block_size = kBlock;
  a.max_q_len = 3;
  a.scale = 0.25f;
  return a;
}

struct Built {
  Graph g;
  ValueId attention, rows, out;
};

// attention -> [rows, heads * dim] -> o projection; `also_added`: the rows are read by an add too.
Built build(const Operands& o, bool also_added = false) {
  Built b;
  Graph& g = b.g;
  b.attention =
      g.paged_attention(g.input("q", o.q.view()), g.input("k", o.k.view()), g.input("v", o.v.view()),
                        g.input("tables", o.block_tables.view()), g.input("starts", o.q_start.view()),
                        g.input("lens", o.seq_lens.view()), attrs());
  b.rows = g.reshape(b.attention, Shape{kRows, kHeads * kDim});
  b.out = g.matmul(b.rows, g.weight("wo", o.wo.view()));
  g.mark_output(b.out);
  if (also_added) g.mark_output(g.add(b.rows, b.rows));
  return b;
}

TEST(SixteenBitAttentionRows, RetypesAttentionReadOnlyByABf16Projection) {
  const Operands o(DType::kBF16);
  Built b = build(o);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(b.g).is_ok());
  EXPECT_EQ(b.g.value(b.attention).dtype, DType::kBF16);
  EXPECT_EQ(b.g.value(b.rows).dtype, DType::kBF16);
  EXPECT_EQ(b.g.value(b.out).dtype, DType::kF32);
}

TEST(SixteenBitAttentionRows, ComputesTheProjectionOfTheRoundedRows) {
  const Operands o(DType::kBF16);
  auto backend = std::move(create_backend("cpu", {.n_threads = 2}).value());
  Built b = build(o);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(b.g).is_ok());
  Executor executor(*backend);
  ASSERT_TRUE(executor.run(b.g).is_ok());
  const std::vector<float> got = test::to_f32(executor.value(b.g, b.out));

  Tensor rows = Tensor::host(DType::kF32, Shape{kRows, kHeads, kDim});
  PagedAttentionArgs args;
  args.q = o.q.view();
  args.k_cache = o.k.view();
  args.v_cache = o.v.view();
  args.block_tables = o.block_tables.view();
  args.q_start = o.q_start.view();
  args.seq_lens = o.seq_lens.view();
  args.block_size = kBlock;
  args.max_q_len = 3;
  args.scale = 0.25f;
  args.out = rows.view();
  ASSERT_TRUE(paged_attention(*backend, args).is_ok());
  for (int64_t i = 0; i < rows.numel(); ++i)
    rows.as<float>()[i] = bf16_to_f32(f32_to_bf16(rows.as<float>()[i]));
  Tensor want = Tensor::host(DType::kF32, Shape{kRows, 24});
  ASSERT_TRUE(
      matmul(*backend, {rows.view().reshaped(Shape{kRows, kHeads * kDim}), o.wo.view(), {}, want.view()})
          .is_ok());
  EXPECT_EQ(got, test::to_f32(want.view()));
}

TEST(SixteenBitAttentionRows, LeavesF32CachesAndOtherReadersAlone) {
  const Operands f32(DType::kF32);
  Built exact = build(f32);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(exact.g).is_ok());
  EXPECT_EQ(exact.g.value(exact.attention).dtype, DType::kF32);
  const Operands bf16(DType::kBF16);
  Built shared = build(bf16, true);
  ASSERT_TRUE(SixteenBitMatmulInputs().run(shared.g).is_ok());
  EXPECT_EQ(shared.g.value(shared.attention).dtype, DType::kF32);
  EXPECT_EQ(shared.g.value(shared.rows).dtype, DType::kF32);
}

}  // namespace
}  // namespace autoglm

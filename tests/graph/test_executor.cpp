// The graph executor: buffer reuse, views, and agreement with calling the ops directly.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/backend.h"
#include "graph/buffer_plan.h"
#include "graph/executor.h"
#include "graph/pass.h"
#include "ops/add.h"
#include "ops/matmul.h"
#include "ops/rms_norm.h"
#include "ops/rope_kv_store.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::unique_ptr<Backend> cpu() {
  return std::move(create_backend("cpu", {.n_threads = 2}).value());
}

// A chain of n residual blocks x = x + rms_norm(x) @ w: each intermediate dies two nodes later, so the
// plan needs a constant number of buffers however long the chain is.
Graph residual_chain(const Tensor& x, const Tensor& w, const Tensor& norm, int blocks) {
  Graph g;
  ValueId v = g.input("x", x.view());
  const ValueId wv = g.weight("w", w.view());
  const ValueId nv = g.weight("norm", norm.view());
  for (int i = 0; i < blocks; ++i)
    v = g.add(v, g.matmul(g.rms_norm(v, nv, 1e-5f), wv));
  g.mark_output(v);
  return g;
}

TEST(BufferPlan, ReusesMemoryOfDeadValues) {
  const Tensor x = test::random_tensor(DType::kF32, Shape{5, 32}, 1);
  const Tensor w = test::random_tensor(DType::kF32, Shape{32, 32}, 2);
  const Tensor norm = test::random_tensor(DType::kF32, Shape{32}, 3, 0.5f, 1.5f);
  const BufferPlan short_plan = plan_buffers(residual_chain(x, w, norm, 2));
  const BufferPlan long_plan = plan_buffers(residual_chain(x, w, norm, 40));
  EXPECT_EQ(long_plan.arena_bytes, short_plan.arena_bytes);
  EXPECT_EQ(long_plan.total_bytes, 20 * short_plan.total_bytes);
  EXPECT_LE(long_plan.arena_bytes * 20, long_plan.total_bytes);
}

TEST(BufferPlan, LiveValuesNeverOverlap) {
  const Tensor x = test::random_tensor(DType::kF32, Shape{3, 16}, 1);
  const Tensor w = test::random_tensor(DType::kF32, Shape{16, 16}, 2);
  const Tensor norm = test::random_tensor(DType::kF32, Shape{16}, 3);
  const Graph g = residual_chain(x, w, norm, 6);
  const BufferPlan plan = plan_buffers(g);
  // Intervals [first write, last read] of every intermediate; overlapping intervals need disjoint bytes.
  struct Life {
    int64_t begin, end, offset, bytes;
  };
  std::vector<Life> lives;
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ValueId out = nodes[i].output;
    if (!out.valid()) continue;
    int64_t last = static_cast<int64_t>(i);
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      for (ValueId in : nodes[j].inputs) {
        if (in.valid() && g.storage_root(in) == out) last = static_cast<int64_t>(j);
      }
    }
    if (out == g.outputs()[0]) last = static_cast<int64_t>(nodes.size());
    lives.push_back({static_cast<int64_t>(i), last, plan.offsets[out.index],
                     static_cast<int64_t>(g.value(out).shape.numel() * 4)});
  }
  for (size_t a = 0; a < lives.size(); ++a) {
    for (size_t b = a + 1; b < lives.size(); ++b) {
      const bool same_time = lives[a].begin <= lives[b].end && lives[b].begin <= lives[a].end;
      const bool same_bytes = lives[a].offset < lives[b].offset + lives[b].bytes &&
                              lives[b].offset < lives[a].offset + lives[a].bytes;
      EXPECT_FALSE(same_time && same_bytes) << "values " << a << " and " << b;
    }
  }
}

TEST(Executor, MatchesDirectOpCallsAndReusesArenaAcrossRuns) {
  auto backend = cpu();
  const Tensor x = test::random_tensor(DType::kF32, Shape{7, 24}, 11);
  const Tensor w = test::random_tensor(DType::kF32, Shape{24, 24}, 12);
  const Tensor norm = test::random_tensor(DType::kF32, Shape{24}, 13, 0.5f, 1.5f);

  // Reference: the same three blocks with the op functions on separately allocated tensors.
  Tensor cur = test::random_tensor(DType::kF32, Shape{7, 24}, 11);
  for (int i = 0; i < 3; ++i) {
    Tensor h = Tensor::host(DType::kF32, Shape{7, 24});
    Tensor m = Tensor::host(DType::kF32, Shape{7, 24});
    Tensor next = Tensor::host(DType::kF32, Shape{7, 24});
    ASSERT_TRUE(rms_norm(*backend, {cur.view(), norm.view(), 1e-5f, h.view()}).is_ok());
    ASSERT_TRUE(matmul(*backend, {h.view(), w.view(), {}, m.view()}).is_ok());
    ASSERT_TRUE(add(*backend, {cur.view(), m.view(), next.view()}).is_ok());
    cur = next;
  }

  Executor executor(*backend);
  const Graph g = residual_chain(x, w, norm, 3);
  ASSERT_TRUE(executor.run(g).is_ok());
  EXPECT_EQ(test::to_f32(executor.value(g, g.outputs()[0])), test::to_f32(cur.view()));
  const size_t arena = executor.stats().arena_bytes;
  ASSERT_TRUE(executor.run(residual_chain(x, w, norm, 30)).is_ok());
  EXPECT_EQ(executor.stats().arena_bytes, arena);
}

TEST(Executor, ViewsShareTheirSourceMemory) {
  auto backend = cpu();
  const Tensor x = test::random_tensor(DType::kF32, Shape{4, 6}, 5);
  const Tensor y = test::random_tensor(DType::kF32, Shape{4, 6}, 6);
  Graph g;
  const ValueId sum = g.add(g.input("x", x.view()), g.input("y", y.view()));
  const ValueId last = g.rows(g.reshape(sum, Shape{4, 6}), 3, 4);
  g.mark_output(last);
  Executor executor(*backend);
  ASSERT_TRUE(executor.run(g).is_ok());
  const TensorView v = executor.value(g, last);
  ASSERT_EQ(v.shape, (Shape{1, 6}));
  for (int i = 0; i < 6; ++i)
    EXPECT_FLOAT_EQ(v.as<float>()[i], x.as<float>()[18 + i] + y.as<float>()[18 + i]);
}

TEST(Executor, ReportsTheFailingNode) {
  auto backend = cpu();
  const Tensor x = test::random_tensor(DType::kF32, Shape{2, 8}, 1);
  const Tensor w = test::random_tensor(DType::kI32, Shape{4, 8}, 2);  // no matmul kernel for i32 weights
  Graph g;
  g.mark_output(g.matmul(g.input("x", x.view()), g.weight("w", w.view())));
  Executor executor(*backend);
  const Status s = executor.run(g);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("matmul"), std::string::npos) << s.message();
}

TEST(DeadNodeElimination, DropsUnusedBranchesKeepsStateWrites) {
  const Tensor x = test::random_tensor(DType::kF32, Shape{3, 2, 4}, 1);
  Tensor cache = test::random_tensor(DType::kF32, Shape{8, 2, 4}, 2);
  Graph g;
  const ValueId xv = g.input("x", x.view());
  g.add(xv, xv);  // dead: nobody reads it
  const ValueId kept = g.add(xv, xv);
  g.kv_store(xv, g.state("cache", cache.view()), 0);  // side effect: must stay
  g.mark_output(g.rows(kept, 1, 2));
  ASSERT_EQ(g.nodes().size(), 3u);
  DeadNodeElimination pass;
  ASSERT_TRUE(pass.run(g).is_ok());
  ASSERT_EQ(g.nodes().size(), 2u);
  EXPECT_EQ(g.nodes()[0].output, kept);
  EXPECT_EQ(g.nodes()[1].op, OpKind::kKvStore);
}

// rope_kv_store writes the caches, so dead-node elimination keeps it even when nobody reads its q_out, and
// the executor runs it exactly as the op called directly.
TEST(DeadNodeElimination, KeepsRopeKvStoreWithUnusedOutput) {
  auto backend = cpu();
  const Tensor q = test::random_tensor(DType::kF32, Shape{2, 4, 8}, 1);
  const Tensor k = test::random_tensor(DType::kF32, Shape{2, 2, 8}, 2);
  const Tensor v = test::random_tensor(DType::kF32, Shape{2, 2, 8}, 3);
  const Tensor inv_freq = test::random_tensor(DType::kF32, Shape{2}, 4, 0.1f, 1.0f);
  Tensor positions = Tensor::host(DType::kI32, Shape{2});
  positions.as<int32_t>()[0] = 3;
  positions.as<int32_t>()[1] = 1;
  Tensor k_cache = test::random_tensor(DType::kBF16, Shape{5, 2, 8}, 5);
  Tensor v_cache = test::random_tensor(DType::kBF16, Shape{5, 2, 8}, 6);
  Tensor k_want = test::random_tensor(DType::kBF16, Shape{5, 2, 8}, 5);
  Tensor v_want = test::random_tensor(DType::kBF16, Shape{5, 2, 8}, 6);
  Tensor q_want = Tensor::host(DType::kF32, q.shape());
  ASSERT_TRUE(rope_kv_store(*backend, {q.view(), k.view(), v.view(), positions.view(), inv_freq.view(), 4,
                                       RopeLayout::kInterleaved, q_want.view(), k_want.view(), v_want.view()})
                  .is_ok());

  Graph g;
  const ValueId qv = g.input("q", q.view());
  const ValueId q_out = g.rope_kv_store(
      qv, g.input("k", k.view()), g.input("v", v.view()), g.input("positions", positions.view()),
      g.weight("inv_freq", inv_freq.view()), g.state("k_cache", k_cache.view()),
      g.state("v_cache", v_cache.view()), 4, RopeLayout::kInterleaved);
  EXPECT_EQ(g.value(q_out).shape, q.shape());
  g.mark_output(g.add(qv, qv));  // q_out itself is read by nobody
  DeadNodeElimination pass;
  ASSERT_TRUE(pass.run(g).is_ok());
  ASSERT_EQ(g.nodes().size(), 2u);
  EXPECT_EQ(g.nodes()[0].op, OpKind::kRopeKvStore);
  EXPECT_STREQ(op_kind_name(OpKind::kRopeKvStore), "rope_kv_store");

  g.mark_output(q_out);  // after the pass: only so that the run keeps it readable
  Executor executor(*backend);
  const Status run = executor.run(g);
  ASSERT_TRUE(run.is_ok()) << run.to_string();
  EXPECT_EQ(std::memcmp(executor.value(g, q_out).data, q_want.data(), q_want.nbytes()), 0);
  EXPECT_EQ(std::memcmp(k_cache.data(), k_want.data(), k_want.nbytes()), 0);
  EXPECT_EQ(std::memcmp(v_cache.data(), v_want.data(), v_want.nbytes()), 0);
}

}  // namespace
}  // namespace autoglm

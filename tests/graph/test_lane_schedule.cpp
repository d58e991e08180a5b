// Lanes: the schedule's waits, the buffer plan's reuse across lanes (against an order computed from scratch,
// on hand-made and random graphs), and the executor running a graph over two lanes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "graph/buffer_plan.h"
#include "graph/executor.h"
#include "graph/lane_schedule.h"
#include "support/lane_check.h"
#include "support/lane_cpu_backend.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

// x -> a (lane 0) -> b = a + a (lane 1) -> c = b + x (lane 0) -> d = a + x (lane 1) -> e = c + b (lane 0).
struct Diamond {
  Tensor x = test::random_tensor(DType::kF32, Shape{4, 8}, 1);
  Graph g;
  Diamond() {
    const ValueId xv = g.input("x", x.view());
    const ValueId a = g.add(xv, xv);
    g.set_lane(1);
    const ValueId b = g.add(a, a);
    g.set_lane(0);
    const ValueId c = g.add(b, xv);
    g.set_lane(1);
    const ValueId d = g.add(a, xv);
    g.set_lane(0);
    g.mark_output(g.add(g.add(c, b), d));
  }
};

TEST(LaneSchedule, WaitsOnlyForWhatALaneDoesNotKnow) {
  Diamond dia;
  const LaneSchedule s = schedule_lanes(dia.g, 2);
  ASSERT_EQ(s.lanes, 2);
  ASSERT_EQ(s.lane.size(), 6u);
  EXPECT_EQ(s.waits[0], std::vector<int32_t>{});
  EXPECT_EQ(s.waits[1], std::vector<int32_t>{0});  // b waits for a
  EXPECT_EQ(s.waits[2], std::vector<int32_t>{1});  // c waits for b
  EXPECT_EQ(s.waits[3], std::vector<int32_t>{});   // d: lane 1 knows a already (through b's wait)
  EXPECT_EQ(s.waits[4], std::vector<int32_t>{});   // c + b: lane 0 knows b
  EXPECT_EQ(s.waits[5], std::vector<int32_t>{3});  // + d
  EXPECT_GE(s.event[0], 0);
  EXPECT_GE(s.event[1], 0);
  EXPECT_GE(s.event[3], 0);
  EXPECT_EQ(s.event[2], -1);
  EXPECT_EQ(s.last_of_lane[1], 3);
  EXPECT_TRUE(s.ordered_before(0, 3));
  EXPECT_FALSE(s.ordered_before(2, 3));  // c and d may run at the same time
  EXPECT_FALSE(s.ordered_before(3, 4));
  test::expect_lanes_safe(dia.g, s, plan_buffers(dia.g, s));
}

TEST(LaneSchedule, OneLaneWhereTheBackendHasOne) {
  Diamond dia;
  const LaneSchedule s = schedule_lanes(dia.g, 1);
  EXPECT_EQ(s.lanes, 1);
  EXPECT_EQ(s.events, 0);
  for (size_t i = 0; i < s.lane.size(); ++i) {
    EXPECT_EQ(s.lane[i], 0);
    EXPECT_TRUE(s.waits[i].empty());
  }
  // Same plan as a graph without lanes.
  EXPECT_EQ(plan_buffers(dia.g, s).offsets, plan_buffers(dia.g).offsets);
}

// Random graphs of adds over earlier values, each node on a random lane, some values read much later: no two
// values share bytes unless one's uses are all ordered before the other is written.
TEST(LaneSchedule, BufferPlanNeverReusesBytesStillInUse) {
  const Tensor x = test::random_tensor(DType::kF32, Shape{2, 16}, 1);
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    Graph g;
    std::vector<ValueId> values{g.input("x", x.view())};
    const int n = 10 + static_cast<int>(rng() % 50);
    for (int i = 0; i < n; ++i) {
      g.set_lane(static_cast<int>(rng() % 2));
      const ValueId a = values[values.size() - 1 - rng() % std::min<size_t>(values.size(), 4)];
      const ValueId b = values[rng() % values.size()];
      ValueId v = g.add(a, b);
      if (rng() % 5 == 0) v = g.reshape(v, Shape{32});  // reads through views count as reads of the root
      if (rng() % 5 == 0) v = g.reshape(v, Shape{2, 16});
      values.push_back(v);
    }
    g.mark_output(values.back());
    for (int lanes : {1, 2}) {
      const LaneSchedule s = schedule_lanes(g, lanes);
      const BufferPlan plan = plan_buffers(g, s);
      test::expect_lanes_safe(g, s, plan);
      // Each lane's own part of the arena still reuses memory.
      EXPECT_LE(plan.arena_bytes, plan.total_bytes);
    }
  }
}

TEST(Executor, RunsTwoLanesWithTheSameResults) {
  Diamond dia;
  test::LaneCpuBackend lanes({.n_threads = 2});
  auto one = create_backend("cpu", {.n_threads = 2});
  ASSERT_TRUE(one.has_value());
  Executor two_lanes(lanes), one_lane(**one);
  ASSERT_TRUE(two_lanes.run(dia.g).is_ok());
  ASSERT_TRUE(one_lane.run(dia.g).is_ok());
  const ValueId out = dia.g.outputs()[0];
  const TensorView got = two_lanes.value(dia.g, out), want = one_lane.value(dia.g, out);
  ASSERT_EQ(got.nbytes(), want.nbytes());
  EXPECT_EQ(std::memcmp(got.data, want.data, got.nbytes()), 0);
  // Forked from lane 0, waits as scheduled, and lane 0 waits for lane 1's last node at the end.
  const LaneSchedule s = schedule_lanes(dia.g, 2);
  const std::string fork = std::to_string(s.fork_event);
  ASSERT_FALSE(lanes.log.empty());
  EXPECT_EQ(lanes.log.front(), "L0 signal " + fork);
  EXPECT_EQ(lanes.log.back(), "L0 wait " + std::to_string(s.event[3]));
  EXPECT_NE(std::find(lanes.log.begin(), lanes.log.end(), "L1 wait " + fork), lanes.log.end());
  EXPECT_EQ(lanes.lane(), 0);
  EXPECT_TRUE(lanes.sm_counts_set.empty());  // no matmuls
}

// Each matmul of a graph on two lanes is planned for the SMs its node names, and the backend's own count is
// back after the run.
TEST(Executor, PlansEachMatmulForTheSmsOfItsNode) {
  const Tensor x = test::random_tensor(DType::kF32, Shape{4, 8}, 1);
  const Tensor w = test::random_tensor(DType::kF32, Shape{8, 8}, 2);
  Graph g;
  const ValueId wv = g.weight("w", w.view());
  g.set_gemm_sms(77);
  const ValueId m1 = g.matmul(g.input("x", x.view()), wv);
  g.set_lane(1);
  const ValueId a = g.add(m1, m1);
  g.set_lane(0);
  g.set_gemm_sms(0);
  g.mark_output(g.matmul(a, wv));
  test::LaneCpuBackend lanes({.n_threads = 1});
  Executor executor(lanes);
  ASSERT_TRUE(executor.run(g).is_ok());
  EXPECT_EQ(lanes.sm_counts_set, (std::vector<int>{77, 0}));
  EXPECT_EQ(lanes.gemm_sm_count(), 0);
}

TEST(Executor, OneLaneGraphsNeverTouchTheLanes) {
  Diamond dia;
  Graph g;
  const ValueId xv = g.input("x", dia.x.view());
  g.mark_output(g.add(xv, xv));
  test::LaneCpuBackend lanes({.n_threads = 2});
  Executor executor(lanes);
  ASSERT_TRUE(executor.run(g).is_ok());
  EXPECT_TRUE(lanes.log.empty());
  EXPECT_TRUE(lanes.sm_counts_set.empty());
}

TEST(Executor, ConcatRowsStacksTwoValues) {
  const Tensor a = test::random_tensor(DType::kF32, Shape{2, 8}, 1);
  const Tensor b = test::random_tensor(DType::kF32, Shape{3, 8}, 2);
  Graph g;
  const ValueId out = g.concat_rows(g.input("a", a.view()), g.input("b", b.view()));
  g.mark_output(out);
  auto cpu = create_backend("cpu", {.n_threads = 1});
  ASSERT_TRUE(cpu.has_value());
  Executor executor(**cpu);
  ASSERT_TRUE(executor.run(g).is_ok());
  const TensorView got = executor.value(g, out);
  ASSERT_EQ(got.shape, (Shape{5, 8}));
  EXPECT_EQ(std::memcmp(got.data, a.data(), a.nbytes()), 0);
  EXPECT_EQ(std::memcmp(static_cast<const uint8_t*>(got.data) + a.nbytes(), b.data(), b.nbytes()), 0);
}

}  // namespace
}  // namespace autoglm

// Graphs on two lanes on the GPU (graph/lane_schedule.h: the second lane is a second CUDA stream): random
// graphs of adds over 32 MB values, each node on a random lane, give the bits of the same graph run on the
// CPU, again and again on one executor (whose arena the lanes share across runs); a wait left out or a buffer
// reused too early would show as stale or overwritten rows. And the lane calls reject what they cannot do.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "cuda/cuda_harness.h"
#include "graph/executor.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

// nodes adds over earlier values (mostly recent ones, some far back), lanes at random; the last is the
// output.
Graph random_adds(const TensorView& x, uint32_t seed, int nodes) {
  std::mt19937 rng(seed);
  Graph g;
  std::vector<ValueId> values{g.input("x", x)};
  for (int i = 0; i < nodes; ++i) {
    g.set_lane(static_cast<int>(rng() % 2));
    const ValueId a = values[values.size() - 1 - rng() % std::min<size_t>(values.size(), 3)];
    const ValueId b = values[rng() % values.size()];
    values.push_back(g.add(a, b));
  }
  g.set_lane(0);
  g.mark_output(values.back());
  return g;
}

TEST(CudaLanes, TwoLaneGraphsGiveTheBitsOfTheCpu) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  ASSERT_EQ(cuda->lane_count(), 2);
  auto cpu = test::make_cpu();
  // Values in [-1, 1): the sums stay far from overflow over the graph's depth.
  const Tensor x = test::random_tensor(DType::kF32, Shape{2048, 4096}, 3, -1.0f, 1.0f);
  const Tensor dx = test::to_device(*cuda, x);
  Executor on_gpu(*cuda);
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(seed);
    Graph g = random_adds(dx.view(), seed, 24);
    ASSERT_EQ(g.lane_count(), 2);
    ASSERT_TRUE(on_gpu.run(g).is_ok());
    const Tensor got = test::to_host(*cuda, on_gpu.value(g, g.outputs()[0]));
    Graph h = random_adds(x.view(), seed, 24);
    Executor on_cpu(*cpu);
    ASSERT_TRUE(on_cpu.run(h).is_ok());
    const TensorView want = on_cpu.value(h, h.outputs()[0]);
    ASSERT_EQ(got.nbytes(), want.nbytes());
    EXPECT_EQ(std::memcmp(got.data(), want.data, got.nbytes()), 0);
  }
  ASSERT_TRUE(cuda->synchronize().is_ok());
}

TEST(CudaLanes, LaneCallsRejectWhatTheyCannotDo) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  EXPECT_EQ(cuda->set_lane(2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda->set_lane(-1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda->wait_lane_event(7).code(), StatusCode::kInvalidArgument);  // never recorded
  EXPECT_EQ(cuda->signal_lane_event(-1).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(cuda->set_lane(1).is_ok());
  ASSERT_TRUE(cuda->signal_lane_event(0).is_ok());
  ASSERT_TRUE(cuda->set_lane(0).is_ok());
  EXPECT_TRUE(cuda->wait_lane_event(0).is_ok());
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

}  // namespace
}  // namespace autoglm

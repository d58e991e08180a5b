// LocalGroup: ranks as threads; all-reduce gives every rank the same sum, in rank order; column gather puts
// each rank's block in place; mismatched sizes fail on every rank instead of hanging or reading past a
// buffer.
#include "parallel/local_communicator.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

namespace autoglm {
namespace {

TensorView host_view(std::vector<float>& v, Shape shape) {
  return TensorView{v.data(), DType::kF32, std::move(shape), Device{}};
}

void on_every_rank(int world, const std::function<void(Communicator&)>& body) {
  LocalGroup group(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] { body(*group.communicator(r)); });
  for (auto& t : threads)
    t.join();
}

TEST(LocalCommunicator, AllReduceSumsOverTheRanks) {
  for (int world : {1, 2, 3, 4}) {
    std::vector<std::vector<float>> results(static_cast<size_t>(world));
    on_every_rank(world, [&](Communicator& comm) {
      EXPECT_EQ(comm.world(), world);
      std::vector<float> data(1000);
      for (size_t i = 0; i < data.size(); ++i)
        data[i] = 0.1f * static_cast<float>(i) + 1e-3f * static_cast<float>(comm.rank() + 1);
      for (int round = 0; round < 3; ++round)  // the group is reusable
        ASSERT_TRUE(comm.all_reduce_sum(host_view(data, Shape{10, 100})).is_ok());
      results[static_cast<size_t>(comm.rank())] = data;
    });
    for (int r = 1; r < world; ++r)
      EXPECT_EQ(results[static_cast<size_t>(r)], results[0]) << "every rank gets the same bits";
    // Three rounds of summing: world^3 copies of the first round's sum.
    double first = 0;
    for (int r = 0; r < world; ++r)
      first += 1e-3 * (r + 1);
    const double w3 = static_cast<double>(world) * world * world;
    EXPECT_NEAR(results[0][0], (first / world) * w3 / 1, 1e-3 * w3);
    EXPECT_NEAR(results[0][999], 0.1 * 999 * w3 + first * world * world, 1e-2 * w3);
  }
}

TEST(LocalCommunicator, AllGatherPlacesEachRanksColumns) {
  constexpr int kWorld = 3;
  std::vector<std::vector<float>> results(kWorld);
  on_every_rank(kWorld, [&](Communicator& comm) {
    std::vector<float> local(2 * 4);
    for (size_t i = 0; i < local.size(); ++i)
      local[i] = static_cast<float>(100 * comm.rank() + static_cast<int>(i));
    std::vector<float> out(2 * 4 * kWorld, -1.0f);
    ASSERT_TRUE(comm.all_gather_columns(host_view(local, Shape{2, 4}), host_view(out, Shape{2, 12})).is_ok());
    results[static_cast<size_t>(comm.rank())] = out;
  });
  const std::vector<float> want = {0, 1, 2, 3, 100, 101, 102, 103, 200, 201, 202, 203,
                                   4, 5, 6, 7, 104, 105, 106, 107, 204, 205, 206, 207};
  for (const auto& got : results)
    EXPECT_EQ(got, want);
}

TEST(LocalCommunicator, MismatchedSizesFailOnEveryRank) {
  std::vector<Status> statuses(2);
  on_every_rank(2, [&](Communicator& comm) {
    std::vector<float> data(comm.rank() == 0 ? 8 : 9, 1.0f);
    statuses[static_cast<size_t>(comm.rank())] =
        comm.all_reduce_sum(host_view(data, Shape{static_cast<int64_t>(data.size())}));
  });
  EXPECT_EQ(statuses[0].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(statuses[1].code(), StatusCode::kInvalidArgument);
}

TEST(LocalCommunicator, AbortEndsTheWaitOfEveryRank) {
  LocalGroup group(3);
  std::vector<Status> statuses(2);
  std::vector<std::thread> waiting;
  for (int r = 0; r < 2; ++r) {  // rank 2 never comes
    waiting.emplace_back([&, r] {
      auto comm = group.communicator(r);
      std::vector<float> data(4, 1.0f);
      statuses[static_cast<size_t>(r)] = comm->all_reduce_sum(host_view(data, Shape{4}));
    });
  }
  group.communicator(2)->abort();
  for (auto& t : waiting)
    t.join();
  for (const Status& s : statuses)
    EXPECT_NE(s.message().find("aborted"), std::string::npos) << s.to_string();
  std::vector<float> data(4, 1.0f);
  EXPECT_FALSE(group.communicator(0)->all_reduce_sum(host_view(data, Shape{4})).is_ok());  // and later ones
}

TEST(LocalCommunicator, RefusesWhatItCannotCarry) {
  LocalGroup group(1);
  auto comm = group.communicator(0);
  std::vector<int32_t> ints(4);
  EXPECT_EQ(comm->all_reduce_sum(TensorView{ints.data(), DType::kI32, Shape{4}, Device{}}).code(),
            StatusCode::kInvalidArgument);
  std::vector<float> local(4), out(5);
  EXPECT_EQ(comm->all_gather_columns(host_view(local, Shape{1, 4}), host_view(out, Shape{1, 5})).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

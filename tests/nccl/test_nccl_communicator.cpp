// NCCL collectives between the GPUs of the machine (label gpu; one rank per GPU, one thread per rank):
// all-reduce sums, the column gather puts each rank's block in place (one row straight from NCCL, several
// through the layout kernel), and both replay inside a recorded CUDA graph. On a one-GPU machine the group
// has one rank: the same code path, each collective the identity.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <functional>
#include <thread>

#include "cuda/cuda_harness.h"
#include "parallel/nccl/nccl_communicator.h"

namespace autoglm {
namespace {

using test::to_device;
using test::to_host;

struct Ranks {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Communicator>> comms;
};

Ranks make_ranks() {
  Ranks r;
  int n = 0;
  EXPECT_EQ(cudaGetDeviceCount(&n), cudaSuccess);
  std::vector<Backend*> raw;
  for (int d = 0; d < n; ++d) {
    BackendOptions o;
    o.device_index = d;
    r.backends.push_back(create_backend("cuda", o).value());
    raw.push_back(r.backends.back().get());
  }
  auto group = create_nccl_group(raw);
  EXPECT_TRUE(group.has_value()) << group.status().to_string();
  if (group.has_value()) r.comms = std::move(group).value();
  return r;
}

void on_every_rank(Ranks& r, const std::function<void(int, Backend&, Communicator&)>& body) {
  std::vector<std::thread> threads;
  for (size_t i = 0; i < r.comms.size(); ++i) {
    threads.emplace_back([&, i] {
      cudaSetDevice(r.backends[i]->device().index);
      body(static_cast<int>(i), *r.backends[i], *r.comms[i]);
    });
  }
  for (auto& t : threads)
    t.join();
}

Tensor filled(int64_t rows, int64_t cols, float base) {
  Tensor t = Tensor::host(DType::kF32, Shape{rows, cols});
  for (int64_t i = 0; i < rows * cols; ++i)
    t.as<float>()[i] = base + static_cast<float>(i);
  return t;
}

TEST(NcclCommunicator, AllReduceAndColumnGatherOverTheGpus) {
  Ranks ranks = make_ranks();
  ASSERT_FALSE(ranks.comms.empty());
  const int world = static_cast<int>(ranks.comms.size());
  std::printf("NCCL group of %d GPU(s)\n", world);
  on_every_rank(ranks, [&](int rank, Backend& backend, Communicator& comm) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.world(), world);
    Tensor data = to_device(backend, filled(3, 1000, 1000.0f * static_cast<float>(rank)));
    ASSERT_TRUE(comm.all_reduce_sum(data.view()).is_ok());
    const Tensor sum = to_host(backend, data.view());
    for (int64_t i = 0; i < 3000; i += 97) {
      float want = 0;
      for (int r = 0; r < world; ++r)
        want += 1000.0f * static_cast<float>(r) + static_cast<float>(i);
      ASSERT_EQ(sum.as<float>()[i], want) << i;
    }
    for (int64_t rows : {1, 5}) {
      const int64_t cols = 300;
      Tensor local = to_device(backend, filled(rows, cols, 100000.0f * static_cast<float>(rank)));
      auto out = backend.allocate(DType::kF32, Shape{rows, cols * world});
      ASSERT_TRUE(out.has_value());
      ASSERT_TRUE(comm.all_gather_columns(local.view(), out->view()).is_ok());
      const Tensor got = to_host(backend, out->view());
      for (int64_t r = 0; r < rows; ++r) {
        for (int k = 0; k < world; ++k) {
          for (int64_t c = 0; c < cols; c += 37) {
            ASSERT_EQ(got.as<float>()[r * cols * world + k * cols + c],
                      100000.0f * static_cast<float>(k) + static_cast<float>(r * cols + c));
          }
        }
      }
    }
  });
}

TEST(NcclCommunicator, CollectivesReplayInsideARecordedGraph) {
  Ranks ranks = make_ranks();
  ASSERT_FALSE(ranks.comms.empty());
  const int world = static_cast<int>(ranks.comms.size());
  on_every_rank(ranks, [&](int rank, Backend& backend, Communicator& comm) {
    Tensor data = to_device(backend, filled(1, 4096, static_cast<float>(rank)));
    auto work = backend.capture([&] { return comm.all_reduce_sum(data.view()); });
    ASSERT_TRUE(work.has_value()) << work.status().to_string();
    // Recording ran nothing; each replay sums once more.
    for (int k = 0; k < 2; ++k)
      ASSERT_TRUE((*work)->replay().is_ok());
    const Tensor got = to_host(backend, data.view());
    float once = 0;
    for (int r = 0; r < world; ++r)
      once += static_cast<float>(r);
    // After the first replay every element i is once + world * i; after the second, world times that.
    EXPECT_EQ(got.as<float>()[7], static_cast<float>(world) * (once + static_cast<float>(world) * 7.0f));
  });
}

TEST(NcclCommunicator, AnAbortedGroupRefusesCollectives) {
  Ranks ranks = make_ranks();
  ASSERT_FALSE(ranks.comms.empty());
  for (auto& c : ranks.comms)
    c->abort();
  on_every_rank(ranks, [&](int, Backend& backend, Communicator& comm) {
    Tensor data = to_device(backend, filled(1, 16, 0.0f));
    const Status s = comm.all_reduce_sum(data.view());
    EXPECT_NE(s.message().find("aborted"), std::string::npos) << s.to_string();
  });
}

TEST(NcclCommunicator, RefusesWhatItCannotCarry) {
  Ranks ranks = make_ranks();
  ASSERT_FALSE(ranks.comms.empty());
  // Refused before any NCCL call, so rank 0 alone may try them.
  Backend& backend = *ranks.backends[0];
  Communicator& comm = *ranks.comms[0];
  std::vector<float> host(4);
  EXPECT_EQ(comm.all_reduce_sum(TensorView{host.data(), DType::kF32, Shape{4}, Device{}}).code(),
            StatusCode::kInvalidArgument);
  auto ints = backend.allocate(DType::kI32, Shape{4});
  EXPECT_EQ(comm.all_reduce_sum(ints->view()).code(), StatusCode::kInvalidArgument);
  Backend* twice[] = {&backend, &backend};
  EXPECT_EQ(create_nccl_group(twice).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

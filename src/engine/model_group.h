// The model on every rank of a tensor-parallel group (EngineOptions::tensor_parallel): one backend, one model
// shard and, beyond rank 0, one worker thread per rank. run(job) hands every rank the same job at once and
// returns when all have finished, so that the ranks enter the collectives of their forward passes together;
// rank 0 runs on the caller's thread. Ranks talk through NCCL on GPUs and through an in-process group on the
// CPU. One rank: no threads, no collectives; run() is a call.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "parallel/communicator.h"
#include "parallel/local_communicator.h"

namespace autoglm {

class ModelGroup {
 public:
  // Loads this rank's shard on a backend that ModelGroup owns.
  using ModelFactory =
      std::function<Expected<std::unique_ptr<Model>>(Backend& backend, const ParallelOptions& parallel)>;

  // `world` ranks of backend `backend_name`: on a GPU backend rank r is device options.device_index + r; the
  // CPU's threads (options.n_threads, 0 = all cores) are shared out among the ranks.
  static Expected<std::unique_ptr<ModelGroup>> create(const std::string& backend_name, BackendOptions options,
                                                      int world, const ModelFactory& load);
  ~ModelGroup();
  ModelGroup(const ModelGroup&) = delete;
  ModelGroup& operator=(const ModelGroup&) = delete;

  int world() const { return static_cast<int>(ranks_.size()); }
  Backend& backend(int rank) const { return *ranks_[static_cast<size_t>(rank)].backend; }
  Model& model(int rank) const { return *ranks_[static_cast<size_t>(rank)].model; }
  // Runs job(r) for every rank r at once (r > 0 on its worker); the first error in rank order. A rank whose
  // job fails aborts the group's collectives, so that the others do not wait for it forever; the group then
  // refuses every later job with that error (its ranks may have stopped at different points).
  Status run(const std::function<Status(int rank)>& job);

 private:
  struct Rank {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
  };
  ModelGroup() = default;
  void work(int rank);
  // job(rank), aborting the collectives when it fails.
  Status run_rank(const std::function<Status(int)>& job, int rank);

  std::vector<Rank> ranks_;
  std::unique_ptr<LocalGroup> local_group_;
  std::vector<std::unique_ptr<Communicator>> communicators_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<Status(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int n_running_ = 0;
  bool stopping_ = false;
  std::vector<Status> results_;
  std::once_flag aborted_;
  Status broken_;  // set by run() after a failed job of a group of several ranks
};

}  // namespace autoglm

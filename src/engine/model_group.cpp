#include "engine/model_group.h"

#include <algorithm>

#if AUTOGLM_WITH_NCCL
#include "parallel/nccl/nccl_communicator.h"
#endif

namespace autoglm {

Expected<std::unique_ptr<ModelGroup>> ModelGroup::create(const std::string& backend_name,
                                                         BackendOptions options, int world,
                                                         const ModelFactory& load) {
  if (world < 1) return invalid_argument("tensor parallel: the group needs at least one rank");
  auto group = std::unique_ptr<ModelGroup>(new ModelGroup());
  group->ranks_.resize(static_cast<size_t>(world));
  const int base_device = options.device_index;
  const int threads = options.n_threads > 0
                          ? options.n_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int r = 0; r < world; ++r) {
    BackendOptions o = options;
    o.device_index = base_device + r;
    o.n_threads = world > 1 ? std::max(1, threads / world) : options.n_threads;
    auto backend = create_backend(backend_name, o);
    if (!backend) return backend.status().with_context("tensor parallel rank " + std::to_string(r));
    group->ranks_[static_cast<size_t>(r)].backend = std::move(backend).value();
  }
  if (world > 1) {
    if (group->backend(0).device().kind == DeviceKind::kCpu) {
      group->local_group_ = std::make_unique<LocalGroup>(world);
      for (int r = 0; r < world; ++r)
        group->communicators_.push_back(group->local_group_->communicator(r));
    } else {
#if AUTOGLM_WITH_NCCL
      std::vector<Backend*> backends;
      for (int r = 0; r < world; ++r)
        backends.push_back(&group->backend(r));
      AUTOGLM_ASSIGN_OR_RETURN(group->communicators_, create_nccl_group(backends));
#else
      return unsupported(
          "tensor parallelism over GPUs needs NCCL, which this build lacks (scripts/setup.sh "
          "installs it)");
#endif
    }
  }
  group->results_.resize(static_cast<size_t>(world));
  for (int r = 1; r < world; ++r)
    group->workers_.emplace_back([g = group.get(), r] { g->work(r); });
  // Each rank reads its own shard, on its own thread.
  ModelGroup& g = *group;
  AUTOGLM_RETURN_IF_ERROR(g.run([&](int r) -> Status {
    const ParallelOptions parallel{{r, world},
                                   world > 1 ? g.communicators_[static_cast<size_t>(r)].get() : nullptr};
    auto model = load(g.backend(r), parallel);
    if (!model) return model.status();
    g.ranks_[static_cast<size_t>(r)].model = std::move(model).value();
    return Status::ok();
  }));
  return group;
}

ModelGroup::~ModelGroup() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (std::thread& t : workers_)
    t.join();
}

void ModelGroup::work(int rank) {
  const Status current = backend(rank).make_current();
  uint64_t seen = 0;
  for (;;) {
    const std::function<Status(int)>* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
    }
    Status result = current.is_ok() ? run_rank(*job, rank) : current;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      results_[static_cast<size_t>(rank)] = std::move(result);
      if (--n_running_ == 0) done_.notify_all();
    }
  }
}

Status ModelGroup::run_rank(const std::function<Status(int)>& job, int rank) {
  Status status = job(rank);
  if (!status.is_ok() && world() > 1) {
    std::call_once(aborted_, [&] {
      for (auto& c : communicators_)
        c->abort();
    });
  }
  return status;
}

Status ModelGroup::run(const std::function<Status(int rank)>& job) {
  if (world() == 1) return job(0);
  if (!broken_.is_ok()) return broken_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    ++generation_;
    n_running_ = world() - 1;
  }
  start_.notify_all();
  // Rank 0 runs on the caller's thread, whichever it is: its device first (creating the other ranks' backends
  // left another one current).
  Status mine = backend(0).make_current();
  if (mine.is_ok()) mine = run_rank(job, 0);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return n_running_ == 0; });
  }
  // The cause: the first failure in rank order that is not another rank's abort.
  results_[0] = std::move(mine);
  Status first;
  for (int pass = 0; pass < 2 && first.is_ok(); ++pass) {
    for (int r = 0; r < world() && first.is_ok(); ++r) {
      const Status& s = results_[static_cast<size_t>(r)];
      const bool aborted = s.message().find("collective aborted") != std::string::npos;
      if (!s.is_ok() && (pass == 1 || !aborted)) first = s.with_context("rank " + std::to_string(r));
    }
  }
  if (!first.is_ok()) broken_ = first.with_context("tensor-parallel group stopped");
  return first;
}

}  // namespace autoglm

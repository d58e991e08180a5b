#include "parallel/nccl/nccl_communicator.h"

#include <nccl.h>

#include <atomic>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "parallel/nccl/gather_columns.h"

namespace autoglm {
namespace {

Status nccl_status(ncclResult_t result, const char* what) {
  if (result == ncclSuccess) return Status::ok();
  return internal_error(std::string("nccl: ") + what + ": " + ncclGetErrorString(result));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, CudaBackend& backend, int rank, int world)
      : comm_(comm), backend_(backend), rank_(rank), world_(world) {}
  ~NcclCommunicator() override {
    if (!aborted_.load()) ncclCommDestroy(comm_);
  }

  // ncclCommAbort ends the communicator's pending operations and frees it (no destroy afterwards).
  void abort() override {
    if (!aborted_.exchange(true)) ncclCommAbort(comm_);
  }

  int rank() const override { return rank_; }
  int world() const override { return world_; }

  Status all_reduce_sum(TensorView data) override {
    AUTOGLM_RETURN_IF_ERROR(check("all_reduce_sum", data));
    if (aborted_.load()) return internal_error("nccl: collective aborted: another rank of the group failed");
    if (data.numel() == 0) return Status::ok();
    return nccl_status(ncclAllReduce(data.data, data.data, static_cast<size_t>(data.numel()), ncclFloat32,
                                     ncclSum, comm_, backend_.stream()),
                       "all_reduce_sum");
  }

  Status all_gather_columns(TensorView local, TensorView out) override {
    if (aborted_.load()) return internal_error("nccl: collective aborted: another rank of the group failed");
    AUTOGLM_RETURN_IF_ERROR(check("all_gather_columns", local));
    AUTOGLM_RETURN_IF_ERROR(check("all_gather_columns", out));
    if (local.shape.rank() != 2 || out.shape.rank() != 2 || out.shape[0] != local.shape[0] ||
        out.shape[1] != local.shape[1] * world_) {
      return invalid_argument("all_gather_columns: " + local.describe() + " into " + out.describe() +
                              " over " + std::to_string(world_) + " ranks");
    }
    const int64_t rows = local.shape[0], cols = local.shape[1];
    const auto count = static_cast<size_t>(rows * cols);
    if (count == 0) return Status::ok();
    // One row: the rank-major blocks are already the columns side by side.
    if (rows == 1) {
      return nccl_status(ncclAllGather(local.data, out.data, count, ncclFloat32, comm_, backend_.stream()),
                         "all_gather_columns");
    }
    void* ranked = backend_.scratch(count * static_cast<size_t>(world_) * sizeof(float));
    if (ranked == nullptr) return resource_exhausted("all_gather_columns: no scratch memory");
    AUTOGLM_RETURN_IF_ERROR(
        nccl_status(ncclAllGather(local.data, ranked, count, ncclFloat32, comm_, backend_.stream()),
                    "all_gather_columns"));
    launch_gather_columns(static_cast<const float*>(ranked), out.as<float>(), world_, rows, cols,
                          backend_.stream());
    backend_.note_launch("gather_columns");
    return Status::ok();
  }

 private:
  Status check(const char* op, const TensorView& t) const {
    if (t.dtype != DType::kF32 || t.device != backend_.device() || (t.numel() > 0 && t.data == nullptr)) {
      return invalid_argument(std::string(op) + ": takes f32 tensors of " + backend_.device().to_string() +
                              ", not " + t.describe());
    }
    return Status::ok();
  }

  ncclComm_t comm_;
  std::atomic<bool> aborted_{false};
  CudaBackend& backend_;
  int rank_;
  int world_;
};

}  // namespace

Expected<std::vector<std::unique_ptr<Communicator>>> create_nccl_group(std::span<Backend* const> backends) {
  std::vector<int> devices;
  for (Backend* b : backends) {
    if (b == nullptr || b->device().kind != DeviceKind::kCuda)
      return invalid_argument("nccl: every rank needs a CUDA backend");
    for (int d : devices) {
      if (d == b->device().index) return invalid_argument("nccl: two ranks on one GPU");
    }
    devices.push_back(b->device().index);
  }
  if (devices.empty()) return invalid_argument("nccl: a group needs at least one rank");
  std::vector<ncclComm_t> comms(devices.size());
  AUTOGLM_RETURN_IF_ERROR(nccl_status(
      ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data()), "ncclCommInitAll"));
  std::vector<std::unique_ptr<Communicator>> group;
  const int world = static_cast<int>(devices.size());
  for (int r = 0; r < world; ++r) {
    group.push_back(std::make_unique<NcclCommunicator>(
        comms[static_cast<size_t>(r)], cuda_backend(*backends[static_cast<size_t>(r)]), r, world));
  }
  return group;
}

}  // namespace autoglm

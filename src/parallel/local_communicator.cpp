#include "parallel/local_communicator.h"

#include <cstring>
#include <string>

namespace autoglm {

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(LocalGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int world() const override { return group_.world_; }

  Status all_reduce_sum(TensorView data) override {
    AUTOGLM_RETURN_IF_ERROR(check("all_reduce_sum", data));
    const int64_t n = data.numel();
    // Every rank checks every size after the first barrier, so all of them fail together.
    Status agreed = exchange(data.as<const float>(), n);
    if (agreed.is_ok()) {
      sum_.assign(static_cast<size_t>(n), 0.0f);
      for (const LocalGroup::Posted& p : group_.posted_) {
        for (int64_t i = 0; i < n; ++i)
          sum_[static_cast<size_t>(i)] += p.data[i];
      }
    }
    if (!group_.arrive_and_wait()) return aborted();  // everyone has read every buffer
    if (agreed.is_ok()) std::memcpy(data.data, sum_.data(), static_cast<size_t>(n) * sizeof(float));
    return agreed;
  }

  Status all_gather_columns(TensorView local, TensorView out) override {
    AUTOGLM_RETURN_IF_ERROR(check("all_gather_columns", local));
    AUTOGLM_RETURN_IF_ERROR(check("all_gather_columns", out));
    if (local.shape.rank() != 2 || out.shape.rank() != 2 || out.shape[0] != local.shape[0] ||
        out.shape[1] != local.shape[1] * world()) {
      return invalid_argument("all_gather_columns: " + local.describe() + " into " + out.describe() +
                              " over " + std::to_string(world()) + " ranks");
    }
    const int64_t rows = local.shape[0], cols = local.shape[1];
    Status agreed = exchange(local.as<const float>(), local.numel());
    if (agreed.is_ok()) {
      float* dst = out.as<float>();
      for (int r = 0; r < world(); ++r) {
        const float* src = group_.posted_[static_cast<size_t>(r)].data;
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(dst + i * cols * world() + r * cols, src + i * cols,
                      static_cast<size_t>(cols) * sizeof(float));
      }
    }
    if (!group_.arrive_and_wait()) return aborted();
    return agreed;
  }

  void abort() override { group_.abort(); }

 private:
  static Status check(const char* op, const TensorView& t) {
    if (t.dtype != DType::kF32 || t.device.kind != DeviceKind::kCpu || (t.numel() > 0 && t.data == nullptr)) {
      return invalid_argument(std::string(op) + ": a local group takes f32 host tensors, not " +
                              t.describe());
    }
    return Status::ok();
  }
  static Status aborted() { return internal_error("collective aborted: another rank of the group failed"); }
  // Publishes this rank's buffer and waits for everyone's; then the sizes must agree.
  Status exchange(const float* data, int64_t numel) {
    group_.posted_[static_cast<size_t>(rank_)] = {data, numel};
    if (!group_.arrive_and_wait()) return aborted();
    for (const LocalGroup::Posted& p : group_.posted_) {
      if (p.numel != numel) {
        return invalid_argument("collective of " + std::to_string(numel) + " values on rank " +
                                std::to_string(rank_) + " met one of " + std::to_string(p.numel));
      }
    }
    return Status::ok();
  }

  LocalGroup& group_;
  int rank_;
  std::vector<float> sum_;
};

LocalGroup::LocalGroup(int world) : world_(world), posted_(static_cast<size_t>(world)) {}

bool LocalGroup::arrive_and_wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (aborted_) return false;
  const uint64_t phase = phase_;
  if (++arrived_ == world_) {
    arrived_ = 0;
    ++phase_;
    all_arrived_.notify_all();
    return true;
  }
  all_arrived_.wait(lock, [&] { return aborted_ || phase_ != phase; });
  return phase_ != phase;
}

void LocalGroup::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = true;
  all_arrived_.notify_all();
}

std::unique_ptr<Communicator> LocalGroup::communicator(int rank) {
  return std::make_unique<LocalCommunicator>(*this, rank);
}

}  // namespace autoglm

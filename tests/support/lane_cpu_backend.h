// The CPU backend with two lanes for tests: ops still run at once, in the order they are queued (which every
// lane schedule allows), and the lane calls are logged so tests can check what the executor asked for.
#pragma once

#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace autoglm::test {

class LaneCpuBackend final : public CpuBackend {
 public:
  explicit LaneCpuBackend(const BackendOptions& options) : CpuBackend(options) {}

  int lane_count() const override { return 2; }
  Status set_lane(int lane) override {
    if (lane < 0 || lane > 1) return invalid_argument("no lane " + std::to_string(lane));
    lane_ = lane;
    return Status::ok();
  }
  Status signal_lane_event(int event) override {
    log.push_back("L" + std::to_string(lane_) + " signal " + std::to_string(event));
    if (signaled.size() <= static_cast<size_t>(event)) signaled.resize(static_cast<size_t>(event) + 1, false);
    signaled[static_cast<size_t>(event)] = true;
    return Status::ok();
  }
  Status wait_lane_event(int event) override {
    log.push_back("L" + std::to_string(lane_) + " wait " + std::to_string(event));
    if (event < 0 || static_cast<size_t>(event) >= signaled.size() || !signaled[static_cast<size_t>(event)])
      return internal_error("wait for event " + std::to_string(event) + " before it was recorded");
    return Status::ok();
  }
  int gemm_sm_count() const override { return sms_; }
  void set_gemm_sm_count(int sms) override {
    sms_ = sms;
    sm_counts_set.push_back(sms);
  }

  int lane() const { return lane_; }
  std::vector<std::string> log;
  std::vector<bool> signaled;
  std::vector<int> sm_counts_set;

 private:
  int lane_ = 0;
  int sms_ = 0;
};

}  // namespace autoglm::test

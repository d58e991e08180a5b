// The host backend: aligned host memory and a thread pool that CPU kernels split their work over.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/thread_pool.h"

namespace autoglm {

// Not final: tests derive a two-lane variant of it (tests/support/lane_cpu_backend.h).
class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options);

  std::string name() const override { return "cpu"; }
  Device device() const override { return Device{DeviceKind::kCpu, 0}; }
  Expected<Tensor> allocate(DType dtype, Shape shape) override;
  Status copy(TensorView dst, TensorView src) override;

  ThreadPool& pool() { return *pool_; }

 private:
  std::unique_ptr<ThreadPool> pool_;
};

// The pool of the backend a CPU kernel runs on (kernels receive the Backend& of the op call).
inline ThreadPool& cpu_pool(Backend& backend) {
  return static_cast<CpuBackend&>(backend).pool();
}

}  // namespace autoglm

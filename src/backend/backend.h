// A compute device as the engine sees it: allocation, copies, synchronization, capabilities.
// Kernels are not methods of the backend: they register into the op tables (src/ops/kernel_table.h)
// keyed by (device kind, dtype), so adding a kernel never edits this interface.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace autoglm {

struct BackendOptions {
  int n_threads = 0;     // CPU worker threads, caller included; 0 = hardware concurrency
  int device_index = 0;  // which GPU, for GPU backends
  // GPU backends: choose GEMM algorithms by timing them once per row-count bucket (CUDA: matmul_cublaslt.h)
  // instead of taking the library heuristic's first choice.
  bool tune_gemms = true;
  // GPU backends: the number of SMs the GEMMs are planned for (cuBLASLt's SM count target), leaving the rest
  // to kernels another stream runs at the same time; 0 plans for the whole device.
  int gemm_sm_count = 0;
  // GPU backends: kernels that stream operands into shared memory may land them by the device's bulk copies
  // where it has them (CUDA: cp.async.bulk on sm_90+, today the paged decode attention's K and V rows of
  // bf16 caches at head_dim 128 and 256); off, they keep the per-lane copies. The two give the same bits;
  // the switch is for measuring them.
  bool bulk_copies = true;
  // GPU backends: kernels with a version on Hopper's warpgroup MMA take it there (CUDA: wgmma on sm_90, today
  // the paged prefill attention over bf16 caches at head_dim 128); off, they take their mma.sync version.
  // The switch is for measuring and testing the two.
  bool warpgroup_mma = true;
};

// Work recorded once and replayed as a unit (a CUDA graph): the hundreds of launches of a decode step cost
// one launch. Replays read and write the same memory the recording did.
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual Status replay() = 0;
};

// A copy to host memory that lands later (Backend::copy_to_host_async).
class PendingCopy {
 public:
  virtual ~PendingCopy() = default;
  // Blocks until the bytes are in the host buffer; reports an asynchronous error of the work queued before
  // the copy. Later calls return at once with the first call's status.
  virtual Status wait() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  // The device's PCI bus id ("0000:1B:00.0"), how tools outside the runtime (the driver's NVML:
  // backend/gpu_power.h) name it; empty for the host.
  virtual std::string pci_bus_id() const { return {}; }
  // Uninitialized memory on this device; an error when it does not fit.
  virtual Expected<Tensor> allocate(DType dtype, Shape shape) = 0;
  // dst and src have equal dtype and numel; either may live on the host or on this device.
  virtual Status copy(TensorView dst, TensorView src) = 0;
  // Queues a copy of `src` (this device's memory) into host memory `dst` (equal dtype and numel) behind the
  // work queued so far, without waiting for that work: the bytes are in dst once the handle's wait()
  // returns, and dst must stay valid until then (or until the handle is destroyed, which also waits). The
  // handle must not outlive the backend. The default copies at once.
  virtual Expected<std::unique_ptr<PendingCopy>> copy_to_host_async(TensorView dst, TensorView src);
  // Makes this backend's device the calling thread's current one (CUDA: cudaSetDevice). A thread that queues
  // work for a backend other than the one it started with calls it first (tensor-parallel ranks, one thread
  // per GPU). No-op by default.
  virtual Status make_current() { return Status::ok(); }
  // Waits until all work queued on this backend has finished; reports the first asynchronous error (a
  // failed kernel launch or device fault) since the last call, which is sticky on GPUs.
  virtual Status synchronize() { return Status::ok(); }

  // Records the work `enqueue` queues (it must queue device work only: no copies to or from host memory, no
  // synchronization) for replay. kUnsupported on backends without recording (the CPU).
  virtual Expected<std::unique_ptr<CapturedWork>> capture(const std::function<Status()>& enqueue) {
    return unsupported(name() + " cannot record work for replay");
  }
  // Changes whenever backend-owned memory that recorded work may point to has moved (e.g. kernel scratch
  // regrown): recordings made before are stale.
  virtual uint64_t memory_generation() const { return 0; }
  // Bytes this backend could still allocate (device memory free now plus what its allocator caches); 0 when
  // unknown (the CPU: the serving engine then sizes its KV pool from the context and batch limits).
  virtual size_t free_memory() const { return 0; }
  // Tokens per forward pass (ascending, none above max_rows) worth one warm-up pass before serving: a backend
  // that makes a choice per problem size on first use (CUDA: GEMM algorithms timed per row-count bucket)
  // makes them all then, not during the first steps that reach them. Empty: nothing to warm up.
  virtual std::vector<int64_t> warm_up_rows(int64_t max_rows) const {
    (void)max_rows;
    return {};
  }

  // Lanes: in-order queues of work that run beside each other (CUDA: streams), for graphs that split a step
  // into parts whose kernels use the device differently (graph/lane_schedule.h). Work queues on the current
  // lane; an event recorded on one lane and waited for on another orders what follows the wait after what
  // preceded the record (event ids are small integers, reused from run to run). Lane 0 is where every other
  // call (copies, synchronize, capture) queues, and the lane after every Executor::run. One lane by default.
  virtual int lane_count() const { return 1; }
  virtual Status set_lane(int lane) {
    return lane == 0 ? Status::ok() : invalid_argument(name() + " has one lane");
  }
  virtual Status signal_lane_event(int event) {
    (void)event;
    return Status::ok();
  }
  virtual Status wait_lane_event(int event) {
    (void)event;
    return Status::ok();
  }
  // The SMs GEMMs are planned for (BackendOptions::gemm_sm_count; 0 = all): changed for the duration of a
  // graph whose lanes share the device. Ignored by backends without such a target.
  virtual int gemm_sm_count() const { return 0; }
  virtual void set_gemm_sm_count(int sms) { (void)sms; }
};

using BackendFactory = std::function<Expected<std::unique_ptr<Backend>>(const BackendOptions&)>;

// Self-registration: a backend library defines a static BackendRegistrar.
void register_backend(const std::string& name, BackendFactory factory);
Expected<std::unique_ptr<Backend>> create_backend(std::string_view name, const BackendOptions& options = {});
std::vector<std::string> backend_names();

struct BackendRegistrar {
  BackendRegistrar(const std::string& name, BackendFactory factory) {
    register_backend(name, std::move(factory));
  }
};

}  // namespace autoglm

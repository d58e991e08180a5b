// The NVIDIA GPU backend: one device, one stream (and a second one for work an op queues beside it), a
// caching allocator, cuBLASLt, pinned staging buffers.
//
// Everything an op queues runs in order on stream(); kernels launch asynchronously and never synchronize.
// Launch errors are recorded (note_launch) and reported by the next synchronize() or copy to the host,
// because the kernel-table contract says kernels cannot fail.
// Memory: allocate() serves tensors from a caching allocator (cuda_allocator.h) so the per-step arena and
// scratch buffers do not call cudaMalloc in the decode loop; blocks return to the cache when the last Tensor
// sharing them dies. A block freed on the host may still be read by queued work, which is safe because work
// is in one stream's order: any later user of the block is queued behind that work (what an op queues beside
// the stream, launch_beside, is rejoined before the op returns).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_allocator.h"

namespace autoglm {

class CudaBackend final : public Backend {
 public:
  static Expected<std::unique_ptr<Backend>> create(const BackendOptions& options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  Device device() const override { return Device{DeviceKind::kCuda, device_index_}; }
  std::string pci_bus_id() const override;
  Expected<Tensor> allocate(DType dtype, Shape shape) override;
  // Host<->device and device<->device; a copy to host memory waits for it (and for earlier work).
  Status copy(TensorView dst, TensorView src) override;
  Status synchronize() override;
  Status make_current() override;
  // Through a pinned buffer of its own and an event: queueing it neither waits for the stream nor shares the
  // staging buffers of copy(), so the host can queue more work before it waits.
  Expected<std::unique_ptr<PendingCopy>> copy_to_host_async(TensorView dst, TensorView src) override;
  // CUDA graph capture of the backend's stream (relaxed mode, so the caching allocator may still cudaMalloc).
  Expected<std::unique_ptr<CapturedWork>> capture(const std::function<Status()>& enqueue) override;
  uint64_t memory_generation() const override { return memory_generation_; }
  size_t free_memory() const override;
  std::vector<int64_t> warm_up_rows(int64_t max_rows) const override;

  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t cublaslt() const { return cublaslt_; }
  // cuBLASLt workspace, fixed size, owned by the backend (one stream, so one workspace suffices).
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  const cudaDeviceProp& properties() const { return properties_; }
  bool tunes_gemms() const { return tune_gemms_; }
  // BackendOptions::bulk_copies, and the device has them (sm_90+).
  bool bulk_copies() const { return bulk_copies_ && properties_.major >= 9; }
  // BackendOptions::warpgroup_mma, and the device is a Hopper (sm_90: wgmma is not carried forward).
  bool warpgroup_mma() const { return warpgroup_mma_ && properties_.major == 9; }
  int gemm_sm_count() const override { return gemm_sm_count_; }  // BackendOptions::gemm_sm_count
  void set_gemm_sm_count(int sms) override { gemm_sm_count_ = std::max(0, sms); }

  // Two lanes: lane 1 is a stream of the highest priority (its kernels take SMs as they free up) with its own
  // scratch, cuBLASLt workspace and launch_beside stream, made on first use; set_lane swaps them in.
  int lane_count() const override { return kLanes; }
  Status set_lane(int lane) override;
  Status signal_lane_event(int event) override;
  Status wait_lane_event(int event) override;

  // Work beside the stream, for an op of two independent parts that use the GPU differently (paged
  // attention: its latency-bound prefill rows beside its memory-bound decode rows): launch_beside(fn) runs
  // fn with stream() switched to a second stream of the highest priority that first waits for everything
  // queued so far, so its kernels take free SMs first; rejoin() makes the stream wait for what fn queued.
  // Without a second stream (it could not be made) fn queues on the stream itself. Launch errors are noted as
  // note_launch does.
  void launch_beside(const std::function<void()>& fn);
  void rejoin();

  // Device scratch of at least `bytes` for a kernel's temporaries (split-K partials, converted operands),
  // valid until the next scratch() call on this backend; grows, never shrinks.
  void* scratch(size_t bytes);

  // Records a failed launch (cudaGetLastError after <<<>>>); the first error sticks until synchronize().
  // Every kernel wrapper calls it once per launch, so it also counts the work queued.
  void note_launch(const char* kernel);
  // Kernel launches and copies queued so far: equal values at two moments mean nothing was queued in between
  // that could have written device memory (library calls such as cuBLASLt's GEMM are not counted; they
  // write only their outputs).
  uint64_t queued_work() const { return queued_work_; }
  // The kernel named by the latest note_launch: which of its kernels an op took (tests).
  const char* last_launch() const { return last_launch_; }

  // Bytes held by the caching allocator (in use + cached).
  size_t reserved_bytes() const;
  // The caching allocator's counters (cudaMalloc calls, peak, ...).
  CudaAllocatorStats allocator_stats() const;

 private:
  CudaBackend() = default;

  int device_index_ = 0;
  bool tune_gemms_ = true;
  bool bulk_copies_ = true;
  bool warpgroup_mma_ = true;
  const char* last_launch_ = "";
  int gemm_sm_count_ = 0;
  cudaDeviceProp properties_{};
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::unique_ptr<CudaAllocator> allocator_;
  std::string first_error_;
  uint64_t memory_generation_ = 0;
  uint64_t queued_work_ = 0;
  bool capturing_ = false;
  cudaStream_t beside_ = nullptr;  // launch_beside's stream and events
  cudaEvent_t forked_ = nullptr, beside_done_ = nullptr;
  bool beside_pending_ = false;  // launch_beside queued work that rejoin() has not waited for
  bool ensure_beside();

  // The per-lane state above (stream_, workspace_, scratch_, the beside stream): the current lane's lives in
  // the fields, the others' here until set_lane swaps them.
  static constexpr int kLanes = 2;
  struct LaneState {
    cudaStream_t stream = nullptr;
    void* workspace = nullptr;
    void* scratch = nullptr;
    size_t scratch_bytes = 0;
    cudaStream_t beside = nullptr;
    cudaEvent_t forked = nullptr, beside_done = nullptr;
  };
  LaneState lanes_[kLanes];
  int lane_ = 0;
  std::vector<void*> retired_;       // scratch blocks released at the next synchronize (lanes_used_)
  std::vector<cudaEvent_t> events_;  // signal_lane_event / wait_lane_event
  void swap_lane_state(LaneState& other);
  // A lane other than 0 exists: scratch blocks are no longer one stream's.
  bool has_lanes() const { return lane_ != 0 || lanes_[1].stream != nullptr; }
  Status ensure_lane(int lane);

  // Copies to and from pageable host memory go through two pinned buffers (the DMA engine reads pinned
  // memory at full PCIe speed, and the host copy of one chunk overlaps the transfer of the other).
  static constexpr size_t kStagingBytes = size_t{16} << 20;
  Status ensure_staging();
  Status upload(uint8_t* dst, const uint8_t* src, size_t bytes);
  Status download(uint8_t* dst, const uint8_t* src, size_t bytes);
  Status synchronize_event(cudaEvent_t event);
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t staging_free_[2] = {nullptr, nullptr};

  // copy_to_host_async: one pinned buffer and event per copy not yet waited for (a few at a time).
  friend class CudaPendingCopy;
  struct DownloadSlot {
    void* pinned = nullptr;
    size_t capacity = 0;
    cudaEvent_t landed = nullptr;
    bool busy = false;
  };
  std::vector<DownloadSlot> download_slots_;
  // Waits for the slot's copy, moves its bytes to dst (when not null) and frees the slot.
  Status finish_download(size_t slot, void* dst, size_t bytes);
};

// The backend a CUDA kernel runs on (kernels receive the Backend& of the op call).
inline CudaBackend& cuda_backend(Backend& backend) {
  return static_cast<CudaBackend&>(backend);
}

// A Status from a CUDA runtime call: "what: cudaErrorX (message)".
Status cuda_status(cudaError_t error, const char* what);

#define AUTOGLM_CUDA_RETURN_IF_ERROR(expr)                                                             \
  do {                                                                                                 \
    const cudaError_t autoglm_cuda_error_ = (expr);                                                    \
    if (autoglm_cuda_error_ != cudaSuccess) return ::autoglm::cuda_status(autoglm_cuda_error_, #expr); \
  } while (0)

}  // namespace autoglm

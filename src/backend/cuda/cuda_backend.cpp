#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "backend/cuda/cuda_allocator.h"
#include "backend/cuda/kernels/matmul_cublaslt.h"

namespace autoglm {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

bool is_host(const TensorView& t) {
  return t.device.kind == DeviceKind::kCpu;
}

}  // namespace

Status cuda_status(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return Status::ok();
  // A failed runtime call also sets the thread's last error; it is reported here, so clear it lest the next
  // note_launch blame a kernel for it. (Sticky errors, device faults, stay whatever this does.)
  cudaGetLastError();
  std::string message =
      std::string(what) + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
  switch (error) {
    case cudaErrorMemoryAllocation:
      return resource_exhausted(std::move(message));
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return unsupported(std::move(message));
    case cudaErrorInvalidDevice:
    case cudaErrorInvalidValue:
      return invalid_argument(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

Expected<std::unique_ptr<Backend>> CudaBackend::create(const BackendOptions& options) {
  int count = 0;
  if (const cudaError_t error = cudaGetDeviceCount(&count); error != cudaSuccess || count == 0) {
    const Status why = error != cudaSuccess ? cuda_status(error, "cudaGetDeviceCount") : Status::ok();
    return unsupported(
        "cuda: no CUDA device is available" +
        (why.is_ok() ? std::string(" (the driver reports 0 devices)") : " (" + why.message() + ")"));
  }
  if (options.device_index < 0 || options.device_index >= count) {
    return invalid_argument("cuda: device index " + std::to_string(options.device_index) + " is not in [0, " +
                            std::to_string(count) + ")");
  }
  // The constructor is private, so make_unique cannot reach it.
  std::unique_ptr<CudaBackend> backend(new CudaBackend());
  backend->device_index_ = options.device_index;
  backend->tune_gemms_ = options.tune_gemms;
  backend->bulk_copies_ = options.bulk_copies;
  backend->warpgroup_mma_ = options.warpgroup_mma;
  backend->gemm_sm_count_ = std::max(0, options.gemm_sm_count);
  // From here on a failure returns early and the destructor releases whatever was made.
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaSetDevice(backend->device_index_));
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&backend->properties_, backend->device_index_));
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&backend->stream_, cudaStreamNonBlocking));
  if (const cublasStatus_t s = cublasLtCreate(&backend->cublaslt_); s != CUBLAS_STATUS_SUCCESS) {
    backend->cublaslt_ = nullptr;
    return internal_error(std::string("cuda: cublasLtCreate: ") + cublasLtGetStatusName(s) + " (" +
                          cublasLtGetStatusString(s) + ")");
  }
  backend->allocator_ = std::make_unique<CudaAllocator>(backend->device_index_);
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaMalloc(&backend->workspace_, kWorkspaceBytes));
  backend->workspace_bytes_ = kWorkspaceBytes;
  return std::unique_ptr<Backend>(std::move(backend));
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_index_);
  (void)set_lane(0);
  for (int l = 1; l < kLanes; ++l) {
    LaneState& lane = lanes_[l];
    if (lane.stream != nullptr) cudaStreamSynchronize(lane.stream);
    if (lane.beside != nullptr) {
      cudaStreamSynchronize(lane.beside);
      cudaStreamDestroy(lane.beside);
    }
    if (lane.forked != nullptr) cudaEventDestroy(lane.forked);
    if (lane.beside_done != nullptr) cudaEventDestroy(lane.beside_done);
    if (lane.scratch != nullptr && allocator_ != nullptr) allocator_->release(lane.scratch);
    if (lane.workspace != nullptr) cudaFree(lane.workspace);
    if (lane.stream != nullptr) cudaStreamDestroy(lane.stream);
  }
  for (void* block : retired_)
    if (allocator_ != nullptr) allocator_->release(block);
  for (cudaEvent_t event : events_)
    cudaEventDestroy(event);
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (scratch_ != nullptr && allocator_ != nullptr) allocator_->release(scratch_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  for (int i = 0; i < 2; ++i) {
    if (staging_[i] != nullptr) cudaFreeHost(staging_[i]);
    if (staging_free_[i] != nullptr) cudaEventDestroy(staging_free_[i]);
  }
  for (DownloadSlot& slot : download_slots_) {
    if (slot.pinned != nullptr) cudaFreeHost(slot.pinned);
    if (slot.landed != nullptr) cudaEventDestroy(slot.landed);
  }
  if (cublaslt_ != nullptr) cublasLtDestroy(cublaslt_);
  if (beside_ != nullptr) {
    cudaStreamSynchronize(beside_);
    cudaStreamDestroy(beside_);
  }
  if (forked_ != nullptr) cudaEventDestroy(forked_);
  if (beside_done_ != nullptr) cudaEventDestroy(beside_done_);
  allocator_.reset();  // returns the cached blocks; blocks of live Tensors go back when those die
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  cudaGetLastError();  // nothing here can be reported; leave no error behind for others on this thread
}

Expected<Tensor> CudaBackend::allocate(DType dtype, Shape shape) {
  const size_t bytes = dtype_bytes(dtype, shape.numel());
  AUTOGLM_ASSIGN_OR_RETURN(void* ptr, allocator_->allocate(bytes));
  return Tensor(allocator_->adopt(ptr), dtype, shape, device());
}

Status CudaBackend::copy(TensorView dst, TensorView src) {
  if (dst.dtype != src.dtype || dst.numel() != src.numel()) {
    return invalid_argument("cuda: copy between " + dst.describe() + " and " + src.describe());
  }
  for (const TensorView* t : {&dst, &src}) {
    if (!is_host(*t) && !(t->device == device())) {
      return invalid_argument("cuda: copy of " + t->describe() + " on backend " + device().to_string());
    }
  }
  const size_t bytes = dst.nbytes();
  if (bytes == 0) return Status::ok();
  ++queued_work_;
  if (dst.data == nullptr || src.data == nullptr) {
    return invalid_argument("cuda: copy between " + dst.describe() + " and " + src.describe() +
                            " without data");
  }
  if (is_host(dst) && is_host(src)) {
    std::memmove(dst.data, src.data, bytes);
    return Status::ok();
  }
  if (!is_host(src) && !is_host(dst)) {
    AUTOGLM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst.data, src.data, bytes, cudaMemcpyDeviceToDevice, stream_));
    return Status::ok();
  }
  // A recording replays later, when the host memory may be gone; and the staging events cannot be waited on
  // while their records are being captured.
  if (capturing_) return unsupported("cuda: a copy to or from host memory cannot be recorded for replay");
  AUTOGLM_RETURN_IF_ERROR(ensure_staging());
  if (is_host(src))
    return upload(static_cast<uint8_t*>(dst.data), static_cast<const uint8_t*>(src.data), bytes);
  return download(static_cast<uint8_t*>(dst.data), static_cast<const uint8_t*>(src.data), bytes);
}

Status CudaBackend::ensure_staging() {
  if (staging_[0] != nullptr) return Status::ok();
  for (int i = 0; i < 2; ++i) {
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&staging_[i], kStagingBytes, cudaHostAllocDefault));
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&staging_free_[i], cudaEventDisableTiming));
  }
  return Status::ok();
}

// Host -> device through the two pinned buffers: the host copies chunk i+1 into one while the DMA engine
// reads chunk i from the other. Returns once the source has been read (the caller may reuse it); the device
// copy completes in stream order.
Status CudaBackend::upload(uint8_t* dst, const uint8_t* src, size_t bytes) {
  for (size_t offset = 0, chunk = 0; offset < bytes; offset += kStagingBytes, ++chunk) {
    const int b = static_cast<int>(chunk % 2);
    const size_t n = std::min(kStagingBytes, bytes - offset);
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(staging_free_[b]));  // its previous DMA has finished
    std::memcpy(staging_[b], src + offset, n);
    AUTOGLM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst + offset, staging_[b], n, cudaMemcpyHostToDevice, stream_));
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventRecord(staging_free_[b], stream_));
  }
  return Status::ok();
}

// Device -> host through the pinned buffers, the DMA of chunk i+1 overlapping the host's copy of chunk i.
// Waits for the stream (the host reads dst next) and reports any error of the work queued before.
Status CudaBackend::download(uint8_t* dst, const uint8_t* src, size_t bytes) {
  const size_t n_chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  auto issue = [&](size_t chunk) -> Status {
    const int b = static_cast<int>(chunk % 2);
    const size_t offset = chunk * kStagingBytes, n = std::min(kStagingBytes, bytes - offset);
    AUTOGLM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(staging_[b], src + offset, n, cudaMemcpyDeviceToHost, stream_));
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventRecord(staging_free_[b], stream_));
    return Status::ok();
  };
  AUTOGLM_RETURN_IF_ERROR(issue(0));
  for (size_t chunk = 0; chunk < n_chunks; ++chunk) {
    if (chunk + 1 < n_chunks) AUTOGLM_RETURN_IF_ERROR(issue(chunk + 1));
    const int b = static_cast<int>(chunk % 2);
    const Status landed = synchronize_event(staging_free_[b]);
    if (!landed.is_ok()) return landed;
    const size_t offset = chunk * kStagingBytes;
    std::memcpy(dst + offset, staging_[b], std::min(kStagingBytes, bytes - offset));
  }
  return synchronize();
}

class CudaPendingCopy final : public PendingCopy {
 public:
  CudaPendingCopy(CudaBackend& backend, size_t slot, void* dst, size_t bytes)
      : backend_(backend), slot_(slot), dst_(dst), bytes_(bytes) {}
  ~CudaPendingCopy() override {
    if (!done_) (void)backend_.finish_download(slot_, nullptr, 0);
  }
  Status wait() override {
    if (!done_) {
      status_ = backend_.finish_download(slot_, dst_, bytes_);
      done_ = true;
    }
    return status_;
  }

 private:
  CudaBackend& backend_;
  size_t slot_;
  void* dst_;
  size_t bytes_;
  bool done_ = false;
  Status status_;
};

Expected<std::unique_ptr<PendingCopy>> CudaBackend::copy_to_host_async(TensorView dst, TensorView src) {
  if (!is_host(dst) || src.device != device()) {
    return invalid_argument("cuda: copy_to_host_async from " + src.describe() + " to " + dst.describe());
  }
  if (dst.dtype != src.dtype || dst.numel() != src.numel()) {
    return invalid_argument("cuda: copy_to_host_async between " + dst.describe() + " and " + src.describe());
  }
  if (capturing_) return unsupported("cuda: a copy to host memory cannot be recorded for replay");
  const size_t bytes = dst.nbytes();
  size_t slot = 0;
  while (slot < download_slots_.size() && download_slots_[slot].busy)
    ++slot;
  if (slot == download_slots_.size()) download_slots_.emplace_back();
  DownloadSlot& d = download_slots_[slot];
  if (d.landed == nullptr)
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&d.landed, cudaEventDisableTiming));
  if (d.capacity < bytes) {
    if (d.pinned != nullptr) AUTOGLM_CUDA_RETURN_IF_ERROR(cudaFreeHost(d.pinned));
    d.pinned = nullptr;
    d.capacity = 0;
    const size_t capacity = std::max<size_t>(bytes, 64 << 10);
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&d.pinned, capacity, cudaHostAllocDefault));
    d.capacity = capacity;
  }
  ++queued_work_;
  if (bytes > 0) {
    if (src.data == nullptr || dst.data == nullptr)
      return invalid_argument("cuda: copy_to_host_async without data");
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d.pinned, src.data, bytes, cudaMemcpyDeviceToHost, stream_));
  }
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventRecord(d.landed, stream_));
  d.busy = true;
  return std::unique_ptr<PendingCopy>(std::make_unique<CudaPendingCopy>(*this, slot, dst.data, bytes));
}

Status CudaBackend::finish_download(size_t slot, void* dst, size_t bytes) {
  DownloadSlot& d = download_slots_[slot];
  const Status landed = synchronize_event(d.landed);
  d.busy = false;
  if (!landed.is_ok()) return landed;
  if (!first_error_.empty()) return synchronize();  // a launch queued before it failed
  if (dst != nullptr && bytes > 0) std::memcpy(dst, d.pinned, bytes);
  return Status::ok();
}

Status CudaBackend::synchronize_event(cudaEvent_t event) {
  const cudaError_t e = cudaEventSynchronize(event);
  if (e != cudaSuccess) return synchronize();  // reports the failure that stopped the stream
  return Status::ok();
}

Status CudaBackend::make_current() {
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_index_));
  return Status::ok();
}

Status CudaBackend::synchronize() {
  cudaError_t sync_error = cudaStreamSynchronize(stream_);
  for (int l = 0; l < kLanes; ++l) {
    if (l == lane_ || lanes_[l].stream == nullptr) continue;
    const cudaError_t e = cudaStreamSynchronize(lanes_[l].stream);
    if (sync_error == cudaSuccess) sync_error = e;
  }
  if (sync_error == cudaSuccess && !capturing_) {
    for (void* block : retired_)
      allocator_->release(block);
    retired_.clear();
  }
  std::string recorded;
  recorded.swap(first_error_);
  if (!recorded.empty()) {
    cudaGetLastError();
    return internal_error("cuda: kernel launch failed: " + recorded);
  }
  AUTOGLM_CUDA_RETURN_IF_ERROR(sync_error);
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return Status::ok();
}

namespace {

class CudaGraphWork final : public CapturedWork {
 public:
  CudaGraphWork(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t stream)
      : graph_(graph), exec_(exec), stream_(stream) {}
  ~CudaGraphWork() override {
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
  }
  Status replay() override {
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_, stream_));
    return Status::ok();
  }

 private:
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
};

}  // namespace

Expected<std::unique_ptr<CapturedWork>> CudaBackend::capture(const std::function<Status()>& enqueue) {
  if (!first_error_.empty()) return internal_error("cuda: " + first_error_);
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  capturing_ = true;
  const Status queued = enqueue();
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
  if (!queued.is_ok() || ended != cudaSuccess || !first_error_.empty()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    const std::string launch_error = first_error_;
    first_error_.clear();  // a failed recording ran nothing; the stream is usable again
    if (!queued.is_ok()) return queued.with_context("recording for replay");
    if (ended != cudaSuccess) return cuda_status(ended, "cudaStreamEndCapture");
    return internal_error("cuda: recording for replay: " + launch_error);
  }
  cudaGraphExec_t exec = nullptr;
  if (const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0); e != cudaSuccess) {
    cudaGraphDestroy(graph);
    return cuda_status(e, "cudaGraphInstantiate");
  }
  return std::unique_ptr<CapturedWork>(std::make_unique<CudaGraphWork>(graph, exec, stream_));
}

void* CudaBackend::scratch(size_t bytes) {
  if (bytes <= scratch_bytes_ && scratch_ != nullptr) return scratch_;
  ++memory_generation_;  // recorded work that used the old block must not replay
  // The old block may still be read by queued kernels; releasing it to the cache is safe on one stream (any
  // later user queues behind them), with lanes it waits for the next synchronize().
  if (scratch_ != nullptr) {
    if (has_lanes()) {
      retired_.push_back(scratch_);
    } else {
      allocator_->release(scratch_);
    }
  }
  scratch_ = nullptr;
  scratch_bytes_ = 0;
  auto block = allocator_->allocate(bytes);
  if (!block.has_value()) {
    if (first_error_.empty()) first_error_ = "scratch: " + block.status().message();
    return nullptr;
  }
  scratch_ = block.value();
  scratch_bytes_ = CudaAllocator::round_size(bytes);
  return scratch_;
}

void CudaBackend::note_launch(const char* kernel) {
  ++queued_work_;
  last_launch_ = kernel;
  const cudaError_t error = cudaGetLastError();
  if (error == cudaSuccess || !first_error_.empty()) return;
  first_error_ =
      std::string(kernel) + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
}

std::string CudaBackend::pci_bus_id() const {
  char id[32] = {};
  if (cudaDeviceGetPCIBusId(id, sizeof id, device_index_) != cudaSuccess) return {};
  return id;
}

size_t CudaBackend::free_memory() const {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return 0;
  return free_bytes + allocator_->stats().cached_bytes;
}

std::vector<int64_t> CudaBackend::warm_up_rows(int64_t max_rows) const {
  std::vector<int64_t> rows;
  if (!tune_gemms_) return rows;
  for (int64_t m = kGemmTuningMinRows; m <= max_rows;) {
    const int64_t bucket = gemm_tuning_bucket(m);
    rows.push_back(std::min(bucket, max_rows));
    m = bucket + 1;
  }
  return rows;
}

bool CudaBackend::ensure_beside() {
  if (beside_ != nullptr) return true;
  int least = 0, greatest = 0;
  if (cudaDeviceGetStreamPriorityRange(&least, &greatest) != cudaSuccess ||
      cudaStreamCreateWithPriority(&beside_, cudaStreamNonBlocking, greatest) != cudaSuccess ||
      cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming) != cudaSuccess ||
      cudaEventCreateWithFlags(&beside_done_, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();  // no second stream: the work queues on the stream itself, nothing failed
    if (beside_ != nullptr) cudaStreamDestroy(beside_);
    beside_ = nullptr;
    return false;
  }
  return true;
}

void CudaBackend::launch_beside(const std::function<void()>& fn) {
  if (!ensure_beside()) {
    fn();
    return;
  }
  if (cudaEventRecord(forked_, stream_) != cudaSuccess ||
      cudaStreamWaitEvent(beside_, forked_, 0) != cudaSuccess) {
    note_launch("launch_beside");
    fn();  // on the stream itself: still in order
    return;
  }
  cudaStream_t own = stream_;
  stream_ = beside_;
  fn();
  stream_ = own;
  cudaEventRecord(beside_done_, beside_);
  beside_pending_ = true;
  note_launch("launch_beside");
}

void CudaBackend::rejoin() {
  if (!beside_pending_) return;
  beside_pending_ = false;
  cudaStreamWaitEvent(stream_, beside_done_, 0);
  note_launch("rejoin");
}

void CudaBackend::swap_lane_state(LaneState& other) {
  std::swap(stream_, other.stream);
  std::swap(workspace_, other.workspace);
  std::swap(scratch_, other.scratch);
  std::swap(scratch_bytes_, other.scratch_bytes);
  std::swap(beside_, other.beside);
  std::swap(forked_, other.forked);
  std::swap(beside_done_, other.beside_done);
}

Status CudaBackend::ensure_lane(int lane) {
  LaneState& state = lanes_[lane];
  if (lane == 0 || state.stream != nullptr) return Status::ok();
  int least = 0, greatest = 0;
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithPriority(&state.stream, cudaStreamNonBlocking, greatest));
  if (const cudaError_t e = cudaMalloc(&state.workspace, workspace_bytes_); e != cudaSuccess) {
    cudaStreamDestroy(state.stream);
    state.stream = nullptr;
    state.workspace = nullptr;
    return cuda_status(e, "cudaMalloc (lane workspace)");
  }
  return Status::ok();
}

Status CudaBackend::set_lane(int lane) {
  if (lane < 0 || lane >= kLanes) {
    return invalid_argument("cuda: lane " + std::to_string(lane) + " is not in [0, " +
                            std::to_string(kLanes) + ")");
  }
  if (lane == lane_) return Status::ok();
  if (beside_pending_) return internal_error("cuda: set_lane between launch_beside and rejoin");
  AUTOGLM_RETURN_IF_ERROR(ensure_lane(lane));
  swap_lane_state(lanes_[lane_]);  // the current lane's state back into its slot
  swap_lane_state(lanes_[lane]);   // and the new one's out of its own
  lane_ = lane;
  return Status::ok();
}

Status CudaBackend::signal_lane_event(int event) {
  if (event < 0) return invalid_argument("cuda: negative lane event");
  while (events_.size() <= static_cast<size_t>(event)) {
    cudaEvent_t e = nullptr;
    AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    events_.push_back(e);
  }
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[static_cast<size_t>(event)], stream_));
  return Status::ok();
}

Status CudaBackend::wait_lane_event(int event) {
  if (event < 0 || static_cast<size_t>(event) >= events_.size())
    return invalid_argument("cuda: lane event " + std::to_string(event) + " was never recorded");
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, events_[static_cast<size_t>(event)], 0));
  return Status::ok();
}

size_t CudaBackend::reserved_bytes() const {
  const CudaAllocatorStats s = allocator_->stats();
  return s.in_use_bytes + s.cached_bytes;
}

CudaAllocatorStats CudaBackend::allocator_stats() const {
  return allocator_->stats();
}

namespace {
const BackendRegistrar kRegisterCuda("cuda", [](const BackendOptions& options) {
  return CudaBackend::create(options);
});
}  // namespace

}  // namespace autoglm

#include "backend/cuda/cuda_backend.h"

#include <cstring>
#include <string>
#include <utility>

#include "backend/cuda/cuda_allocator.h"

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
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (scratch_ != nullptr && allocator_ != nullptr) allocator_->release(scratch_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (cublaslt_ != nullptr) cublasLtDestroy(cublaslt_);
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
  if (dst.data == nullptr || src.data == nullptr) {
    return invalid_argument("cuda: copy between " + dst.describe() + " and " + src.describe() +
                            " without data");
  }
  if (is_host(dst) && is_host(src)) {
    std::memmove(dst.data, src.data, bytes);
    return Status::ok();
  }
  const cudaMemcpyKind kind = is_host(src)   ? cudaMemcpyHostToDevice
                              : is_host(dst) ? cudaMemcpyDeviceToHost
                                             : cudaMemcpyDeviceToDevice;
  // From pageable host memory the call returns once the source is staged, so the caller may reuse it.
  AUTOGLM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst.data, src.data, bytes, kind, stream_));
  // The host reads dst next: wait for it, and report any error of the work queued before it.
  if (is_host(dst)) return synchronize();
  return Status::ok();
}

Status CudaBackend::synchronize() {
  const cudaError_t sync_error = cudaStreamSynchronize(stream_);
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

void* CudaBackend::scratch(size_t bytes) {
  if (bytes <= scratch_bytes_ && scratch_ != nullptr) return scratch_;
  // The old block may still be read by queued kernels; releasing it to the cache is safe (one stream).
  if (scratch_ != nullptr) allocator_->release(scratch_);
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
  const cudaError_t error = cudaGetLastError();
  if (error == cudaSuccess || !first_error_.empty()) return;
  first_error_ =
      std::string(kernel) + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
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

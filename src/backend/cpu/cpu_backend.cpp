#include "backend/cpu/cpu_backend.h"

#include <cstring>
#include <thread>

namespace autoglm {

CpuBackend::CpuBackend(const BackendOptions& options) {
  int n = options.n_threads > 0 ? options.n_threads : static_cast<int>(std::thread::hardware_concurrency());
  pool_ = std::make_unique<ThreadPool>(n);
}

Expected<Tensor> CpuBackend::allocate(DType dtype, Shape shape) {
  Tensor t = Tensor::host(dtype, shape);
  if (!t.defined()) {
    return resource_exhausted("cannot allocate " + std::to_string(dtype_bytes(dtype, shape.numel())) +
                              " bytes of host memory for " + std::string(dtype_name(dtype)) +
                              shape.to_string());
  }
  return t;
}

Status CpuBackend::copy(TensorView dst, TensorView src) {
  if (dst.dtype != src.dtype || dst.numel() != src.numel()) {
    return invalid_argument("copy between " + dst.describe() + " and " + src.describe());
  }
  if (dst.device.kind != DeviceKind::kCpu || src.device.kind != DeviceKind::kCpu) {
    return invalid_argument("cpu backend copies host memory only");
  }
  if (dst.nbytes() > 0) std::memmove(dst.data, src.data, dst.nbytes());
  return Status::ok();
}

namespace {
const BackendRegistrar kRegisterCpu("cpu",
                                    [](const BackendOptions& options) -> Expected<std::unique_ptr<Backend>> {
                                      return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(options));
                                    });
}  // namespace

}  // namespace autoglm

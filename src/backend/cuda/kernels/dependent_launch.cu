#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "backend/cuda/kernels/dependent_launch.cuh"

namespace autoglm::cuda_kernels {

bool dependent_launch_supported(CudaBackend& backend, const void* kernel) {
  // Off unless AUTOGLM_CUDA_DEPENDENT_LAUNCH=1 (dependent_launch.cuh: engine steps were not reproducible
  // with it on).
  static const bool enabled = [] {
    const char* v = std::getenv("AUTOGLM_CUDA_DEPENDENT_LAUNCH");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  if (!enabled || backend.properties().major < 9) return false;
  static std::mutex mutex;
  static std::unordered_map<const void*, bool> known;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = known.find(kernel);
  if (it != known.end()) return it->second;
  // The PTX version is that of the code the device runs: a kernel JIT-compiled from the portable compute_80
  // PTX has no griddepcontrol instructions, so it must not be launched early.
  cudaFuncAttributes attributes{};
  const bool ok = cudaFuncGetAttributes(&attributes, kernel) == cudaSuccess && attributes.ptxVersion >= 90;
  if (!ok) (void)cudaGetLastError();
  known.emplace(kernel, ok);
  return ok;
}

}  // namespace autoglm::cuda_kernels

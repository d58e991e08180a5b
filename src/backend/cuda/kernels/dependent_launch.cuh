// Programmatic dependent launch (compute capability 9.0 and later): the next kernel of a decode step starts
// its blocks while the current kernel's last blocks still run, instead of after the whole grid has drained.
// Private to kernels/.
//
// Why: a decode step is ~300 kernels, each short (10-90 us for the GEMMs at small batch). Between two
//   kernels on one stream the GPU idles from the last block's exit to the next grid's first loads; the
//   weight-streaming GEMMs lose the ramp-up of their HBM stream on top. With a dependent launch the next
//   grid is already resident and may stream what no earlier kernel writes (its weights) before it waits.
// Contract: a kernel launched through launch_dependent must call wait_for_prior_kernels() before it reads
//   anything an earlier kernel may have written (activations, the KV cache) and before it writes anything
//   at all (an earlier kernel may still read the buffer it writes). wait_for_prior_kernels() returns once
//   every earlier kernel of the stream has completed and its writes are visible, so the chain is as ordered
//   as plain launches. allow_dependent_launch() only lets the next grid be scheduled early; it never lets
//   that grid past its own wait. Both instructions are no-ops in a kernel launched without the attribute,
//   and launch_dependent falls back to a plain launch where the kernel was not compiled for sm_90+.
// Status: off by default, on with AUTOGLM_CUDA_DEPENDENT_LAUNCH=1. On the H100 it saved 0.05-0.1 ms per
//   8B decode step (batch 1 and 16), but with it on the engine's GPU tests lost reproducibility: 54-59 of 64
//   requests changed tokens between a run alone and in a batch, and recorded decode steps differed from
//   launched ones (tests/model_gpu/test_async_engine_gpu.cpp); with it off they pass. The kernels before a
//   cuBLASLt GEMM also trigger early, and what the library's kernels do before their own wait is not ours
//   to check: that is the first suspect. Until it is found, plain launches.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_backend.h"

namespace autoglm::cuda_kernels {

__device__ __forceinline__ void wait_for_prior_kernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// True when `kernel` runs code compiled for sm_90 or later on this device (so its griddepcontrol
// instructions exist) and the device supports dependent launches. Looked up once per kernel.
bool dependent_launch_supported(CudaBackend& backend, const void* kernel);

// Queues kernel<<<grid, block, smem, backend.stream()>>>(args...) as a dependent launch where supported, a
// plain launch otherwise; records the launch under `name` (CudaBackend::note_launch).
template <typename... Params, typename... Args>
void launch_dependent(CudaBackend& backend, const char* name, void (*kernel)(Params...), dim3 grid,
                      dim3 block, size_t smem, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = backend.stream();
  config.attrs = &attribute;
  config.numAttrs = dependent_launch_supported(backend, reinterpret_cast<const void*>(kernel)) ? 1 : 0;
  // Errors surface through cudaGetLastError in note_launch, as for <<<>>>.
  (void)cudaLaunchKernelEx(&config, kernel, static_cast<Params>(std::forward<Args>(args))...);
  backend.note_launch(name);
}

}  // namespace autoglm::cuda_kernels

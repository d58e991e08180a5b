// Collectives over NCCL between the GPUs of one process: rank r is the GPU of backends[r], each rank driven
// by its own thread. Collectives are queued on the rank's CudaBackend stream, in order with its kernels, and
// are recorded like kernels when the stream is captured (decode steps replayed as CUDA graphs).
//
// NVLink multicast (NVLS) stays off where the GPUs are shared: set NCCL_NVLS_ENABLE=0 in the environment.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "parallel/communicator.h"

namespace autoglm {

// One communicator per backend, in rank order (ncclCommInitAll over their devices, which must be distinct
// CUDA devices). Each must be destroyed before its backend.
Expected<std::vector<std::unique_ptr<Communicator>>> create_nccl_group(std::span<Backend* const> backends);

}  // namespace autoglm

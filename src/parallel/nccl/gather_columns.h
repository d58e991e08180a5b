// The layout step of an all-gather by columns: NCCL gathers the ranks' [rows, cols] blocks rank after rank
// ([world, rows, cols]); the logits want them side by side ([rows, world * cols]).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm {

void launch_gather_columns(const float* ranked, float* out, int64_t world, int64_t rows, int64_t cols,
                           cudaStream_t stream);

}  // namespace autoglm

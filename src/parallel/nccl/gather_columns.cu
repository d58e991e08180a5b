// [world, rows, cols] -> [rows, world * cols], one thread per element; reads and writes run along cols.
#include "parallel/nccl/gather_columns.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__global__ void gather_columns_kernel(const float* __restrict__ ranked, float* __restrict__ out,
                                      int64_t world, int64_t rows, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= world * rows * cols) return;
  const int64_t c = i % cols, r = (i / cols) % rows, rank = i / (cols * rows);
  out[r * world * cols + rank * cols + c] = ranked[i];
}

}  // namespace

void launch_gather_columns(const float* ranked, float* out, int64_t world, int64_t rows, int64_t cols,
                           cudaStream_t stream) {
  const int64_t n = world * rows * cols;
  if (n == 0) return;
  gather_columns_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      ranked, out, world, rows, cols);
}

}  // namespace autoglm

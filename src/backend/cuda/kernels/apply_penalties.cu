// Sampling penalties in place, f32, CUDA (ops/apply_penalties.h): a penalised request's row is fixed up where
// it is, before argmax / sample_rows choose from it, instead of going to the host sampler.
//
// Layout: logits [rows, c] row-major, params [rows, 3] (repetition, presence, frequency), offsets [rows + 1]
//   i32, entries [n, 3] i32 (id, count, in_prompt).
// Threading: one block of 256 threads per row, each thread a strided share of the row's entries (ids are
//   distinct within a row, so no two threads touch one logit); a row without entries returns at once. Each
//   logit goes through sampling_rules::penalized_logit with round-to-nearest intrinsics (no FMA contraction),
//   so the result equals the CPU kernel's and the host sampler's bit for bit.
// Floor: 12 bytes read and 8 bytes touched per entry: a few microseconds for thousands of entries per row,
//   launch-bound in practice.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/sampling_rules.h"
#include "ops/apply_penalties.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    apply_penalties_kernel(float* __restrict__ logits, const float* __restrict__ params,
                           const int32_t* __restrict__ offsets, const int32_t* __restrict__ entries,
                           int64_t c, int64_t n) {
  const int64_t r = blockIdx.x;
  const int64_t begin = min(max(static_cast<int64_t>(offsets[r]), int64_t{0}), n);
  const int64_t end = min(max(static_cast<int64_t>(offsets[r + 1]), begin), n);
  if (begin == end) return;
  const float repetition = params[r * kPenaltyParams + 0];
  const float presence = params[r * kPenaltyParams + 1];
  const float frequency = params[r * kPenaltyParams + 2];
  float* row = logits + r * c;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    const int32_t* entry = entries + e * kPenaltyEntryFields;
    const int32_t id = entry[0];
    if (id < 0 || id >= c) continue;
    row[id] =
        sampling_rules::penalized_logit(row[id], repetition, presence, frequency, entry[1], entry[2] != 0);
  }
}

void apply_penalties_cuda_f32(Backend& backend, const ApplyPenaltiesArgs& a) {
  const int64_t rows = a.logits.shape[0], c = a.logits.shape[1];
  CudaBackend& cuda = cuda_backend(backend);
  apply_penalties_kernel<<<static_cast<unsigned>(rows), kThreads, 0, cuda.stream()>>>(
      a.logits.as<float>(), a.params.as<const float>(), a.offsets.as<const int32_t>(),
      a.entries.as<const int32_t>(), c, a.entries.shape[0]);
  cuda.note_launch("apply_penalties");
}

const KernelRegistrar<ApplyPenaltiesArgs> kRegister(DeviceKind::kCuda, DType::kF32, apply_penalties_cuda_f32);

}  // namespace
}  // namespace autoglm

// The cuBLASLt path of the CUDA matmul (matmul.cu): out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) with bias
// f32, w and x both f32 or both of one 16-bit type, out f32 or (16-bit w, no bias) of w's type. Private to
// kernels/.
//
// Which algorithm: cuBLASLt's heuristic ranks its candidates, but its first choice is up to 43% slower than
// its best at some row counts (Llama-3-8B gate/up at 437 rows: 215.6 against 150.7 us on the H100,
// tools/bench/gemm_algos_cuda.cpp), because the ranking misjudges how the last wave of tiles fills the GPU.
// So with 16-bit w and m >= kGemmTuningMinRows, when the backend tunes (BackendOptions::tune_gemms), the
// first call of each row-count bucket times the heuristic's first kGemmTuningCandidates candidates on that
// call's operands, each after the L2 cache is overwritten (the weights of a step stream from HBM, and a
// candidate timed with w in L2 is chosen for a case that never occurs), and keeps the fastest for every m of
// the bucket. Buckets are 64 rows wide up to 1,024 rows, so every m of a bucket splits into the same number
// of 64-, 128- and 256-row tiles; wider above, where a partial wave costs less. The choice is made once per
// process, synchronously and never inside a CUDA graph capture (a call being captured takes the heuristic's
// first choice), so every later call of the bucket computes with the same algorithm: results are repeatable
// within a run. Below kGemmTuningMinRows the weights' HBM stream dominates and timed choices made the steps
// slower; f32 w keeps the heuristic's first choice.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "tensor/dtype.h"

namespace autoglm {

constexpr int64_t kGemmTuningMinRows = 128;
constexpr int kGemmTuningCandidates = 8;

// The bucket whose algorithm serves m rows (its largest row count), or 0 when m is not tuned.
int64_t gemm_tuning_bucket(int64_t m);

// Queues the GEMM on backend.stream(); false when cuBLASLt has no algorithm for it or the call fails, with
// nothing of out written in a way the caller relies on (the caller then computes all of out another way).
// out[i, j] += bias[j] over [m, n] (matmul.cu), where no algorithm takes the bias as an epilogue.
void launch_add_bias(CudaBackend& backend, float* out, const float* bias, int64_t m, int64_t n);

// With an addend (f32 [m, n], not overlapping out; f32 out, no bias): out = addend + x . w^T, through C with
// beta = 1 (one rounding of the f32 accumulator plus C: the add op's bits for the same accumulator). The
// algorithm is chosen as without it (timed with beta = 0), for the alignment of both C and D.
bool run_cublaslt(CudaBackend& backend, DType dtype, const void* w, const void* x, const float* bias,
                  void* out, DType out_dtype, int64_t m, int64_t n, int64_t k, const float* addend = nullptr);

}  // namespace autoglm

// Row-wise sampling, f32, CUDA (ops/sample_rows.h): the step's choices made where the logits are, so only ids
// cross to the host (a 128k-vocabulary row is 0.5 MB; 256 of them, 131 MB, per step otherwise).
//
// Layout: logits [rows, c] row-major, params [rows, 4] (temperature, top_p, min_p, uniform), out [rows] i32.
// Threading: one block of 1024 threads per row. The max, the +inf count and every mass of the nucleus
//   threshold search are block reductions over a strided pass of the row (coalesced); the search bisects the
//   float bits of the threshold in [0, 1] (about 30 passes, probabilities recomputed each pass: exp is
//   cheaper than a 0.5 MB scratch row per sequence). The draw needs id order: each thread owns a contiguous
//   chunk of ids, the chunk masses are scanned across the block (f64), and the thread whose range holds the
//   target walks its chunk. Sums are f64 in a fixed order, so a row's result is deterministic; it may differ
//   from the CPU kernel where the target lands within rounding of a boundary.
// Floor: rows * c * 4 bytes per pass / bandwidth, ~32 passes with top_p < 1 (128k row: ~5 us at 3 TB/s,
//   mostly from L2), 3 without.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "ops/kernel_table.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarp = 32;
constexpr int kWarps = kThreads / kWarp;

template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* smem) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  __syncthreads();  // smem may still be read by a previous reduction
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = smem[lane];
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;  // every thread holds the result
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct MaxI64 {
  __device__ long long operator()(long long a, long long b) const { return a > b ? a : b; }
};

__device__ __forceinline__ float prob(float v, float max_value, float temperature) {
  return v > -__builtin_huge_valf() ? expf((v - max_value) / temperature) : 0.0f;
}

// Exclusive prefix over the block of one value per thread (f64), in thread order.
__device__ double block_exclusive_scan(double v, double* smem, double* total) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  double inclusive = v;
#pragma unroll
  for (int offset = 1; offset < kWarp; offset <<= 1) {
    const double up = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += up;
  }
  __syncthreads();
  if (lane == kWarp - 1) smem[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    double w = smem[lane];
#pragma unroll
    for (int offset = 1; offset < kWarp; offset <<= 1) {
      const double up = __shfl_up_sync(0xffffffffu, w, offset);
      if (lane >= offset) w += up;
    }
    smem[lane] = w;  // inclusive over warps
  }
  __syncthreads();
  const double before_warp = warp > 0 ? smem[warp - 1] : 0.0;
  *total = smem[kWarps - 1];
  return before_warp + inclusive - v;
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* __restrict__ logits, const float* __restrict__ params,
                       int32_t* __restrict__ out, int64_t c) {
  __shared__ float smem_f[kWarps];
  __shared__ double smem_d[kWarps];
  __shared__ long long smem_i[kWarps];
  __shared__ long long found;
  const float* x = logits + static_cast<int64_t>(blockIdx.x) * c;
  const float temperature = params[blockIdx.x * 4 + 0];
  const float top_p = params[blockIdx.x * 4 + 1];
  const float min_p = params[blockIdx.x * 4 + 2];
  const float uniform = params[blockIdx.x * 4 + 3];
  const int t = threadIdx.x;

  float max_value = -__builtin_huge_valf();
  for (int64_t i = t; i < c; i += kThreads)
    max_value = fmaxf(max_value, x[i]);  // fmaxf drops NaN
  max_value = block_reduce(max_value, MaxOp{}, smem_f);

  // Contiguous chunks for everything that needs id order.
  const int64_t chunk = (c + kThreads - 1) / kThreads;
  const int64_t begin = min(c, t * chunk), end = min(c, begin + chunk);
  if (t == 0) found = -1;
  if (max_value == -__builtin_huge_valf()) {  // every logit -inf or NaN: id 0, as argmax
    if (t == 0) out[blockIdx.x] = 0;
    return;
  }

  if (!(temperature > 0.0f) || max_value == __builtin_huge_valf()) {
    // Greedy: the first id holding the max. With +inf logits: the uniform's share of the +inf ids.
    const bool infinite = max_value == __builtin_huge_valf() && temperature > 0.0f;
    long long mine = 0;
    for (int64_t i = begin; i < end; ++i)
      mine += x[i] == max_value;
    double total_count = 0;
    const double before = block_exclusive_scan(static_cast<double>(mine), smem_d, &total_count);
    long long rank = 0;
    if (infinite) {
      rank = static_cast<long long>(uniform * static_cast<float>(total_count));
      if (rank > static_cast<long long>(total_count) - 1) rank = static_cast<long long>(total_count) - 1;
    }
    if (mine > 0 && rank >= static_cast<long long>(before) && rank < static_cast<long long>(before) + mine) {
      long long k = rank - static_cast<long long>(before);
      for (int64_t i = begin; i < end; ++i) {
        if (x[i] == max_value && k-- == 0) {
          found = i;
          break;
        }
      }
    }
    __syncthreads();
    if (t == 0) out[blockIdx.x] = static_cast<int32_t>(found < 0 ? 0 : found);
    return;
  }

  auto mass_at_least = [&](float threshold) {
    double sum = 0;
    for (int64_t i = t; i < c; i += kThreads) {
      const float q = prob(x[i], max_value, temperature);
      if (q >= threshold) sum += q;
    }
    return block_reduce(sum, SumOp{}, smem_d);
  };
  float threshold = 0.0f;
  if (top_p < 1.0f) {
    const double target = static_cast<double>(top_p) * mass_at_least(0.0f);
    unsigned lo = 0, hi = __float_as_uint(1.0f);
    if (mass_at_least(1.0f) >= target) {
      lo = hi;
    } else {
      while (hi - lo > 1) {
        const unsigned mid = lo + (hi - lo) / 2;
        if (mass_at_least(__uint_as_float(mid)) >= target) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
    }
    threshold = __uint_as_float(lo);
  }
  threshold = fmaxf(threshold, min_p);

  double mine = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float q = prob(x[i], max_value, temperature);
    if (q > 0.0f && q >= threshold) mine += q;
  }
  double total = 0;
  const double before = block_exclusive_scan(mine, smem_d, &total);
  const double target = static_cast<double>(uniform) * total;
  if (mine > 0 && target >= before && target < before + mine) {
    double cumulative = before;
    int64_t last = -1;
    for (int64_t i = begin; i < end; ++i) {
      const float q = prob(x[i], max_value, temperature);
      if (!(q > 0.0f && q >= threshold)) continue;
      last = i;
      cumulative += q;
      if (cumulative > target) break;
    }
    found = last;
  }
  __syncthreads();
  if (found < 0) {
    // The target fell past the total by rounding: the last kept id.
    long long last = -1;
    for (int64_t i = begin; i < end; ++i) {
      const float q = prob(x[i], max_value, temperature);
      if (q > 0.0f && q >= threshold) last = i;
    }
    last = block_reduce(last, MaxI64{}, smem_i);
    if (t == 0) found = last;
  }
  __syncthreads();
  if (t == 0) out[blockIdx.x] = static_cast<int32_t>(found < 0 ? 0 : found);
}

void sample_rows_cuda_f32(Backend& backend, const SampleRowsArgs& a) {
  const int64_t rows = a.logits.shape[0], c = a.logits.shape[1];
  CudaBackend& cuda = cuda_backend(backend);
  sample_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, cuda.stream()>>>(
      a.logits.as<const float>(), a.params.as<const float>(), a.out.as<int32_t>(), c);
  cuda.note_launch("sample_rows");
}

const KernelRegistrar<SampleRowsArgs> kRegister(DeviceKind::kCuda, DType::kF32, sample_rows_cuda_f32);

}  // namespace
}  // namespace autoglm

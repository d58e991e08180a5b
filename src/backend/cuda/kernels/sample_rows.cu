// Row-wise sampling, f32, CUDA (ops/sample_rows.h): the step's choices made where the logits are, so only ids
// cross to the host (a 128k-vocabulary row is 0.5 MB; 256 of them, 131 MB, per step otherwise).
//
// Layout: logits [rows, c] row-major, params [rows, 5] (temperature, top_p, min_p, uniform, top_k),
//   out [rows] i32.
// Threading: one block of 1024 threads per row. The max, the +inf count, every count of the top-k search and
//   every mass of the nucleus threshold search are block reductions over a strided pass of the row
//   (coalesced). The top-k search bisects the ordered key of the k-th largest logit / temperature, counting
//   keys >= a candidate (no sort of the row): passes over the row until at most 4096 keys are left in the
//   open interval (~10 passes, the sign and exponent bits), then those keys are gathered into shared memory
//   and the ~22 remaining steps count there. The nucleus search bisects the float bits of the threshold in
//   [0, 1] the same way: passes over the row until at most 4096 probabilities lie in the open interval, then
//   the remaining ~20 steps over those in shared memory. Both recompute what they compare each pass (a
//   division, an exp): cheaper than a 0.5 MB scratch row per sequence. The rules are
//   backend/sampling_rules.h's, shared with the CPU kernel, so the top-k mask is the same set of ids on both.
//   The draw needs id order: each thread owns a contiguous chunk of ids, the chunk masses are scanned across
//   the block (f64), and the thread whose range holds the target walks its chunk. Sums are f64 in a fixed
//   order, so a row's result is deterministic; it may differ from the CPU kernel where the target lands
//   within rounding of a boundary.
// Floor: rows * c * 4 bytes per pass / bandwidth (a 128k row: ~0.2 us at 3 TB/s from HBM, less from L2),
//   but each pass recomputes a division and an exp per logit, so the passes are bound by arithmetic: ~12
//   with top_p < 1, ~11 more with top_k, 3 without either. Measured on an H100, 256 rows of 128256 logits
//   (tools/bench/sample_rows_cuda.cpp, `bench/device/run.sh sampling`): 0.18 ms plain, 1.2 ms with top_p 0.9
//   (4.0 ms when the nucleus bisection ran all ~30 steps over the row), 1.4 ms with top_k 50, 1.9 ms with
//   both.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/sampling_rules.h"
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
struct SumI64 {
  __device__ long long operator()(long long a, long long b) const { return a + b; }
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

// The key of the k-th largest logit / temperature of the row: sampling_rules::kth_largest_key's result (the
// largest key that k keys reach), found in two phases. Bisection passes over the row keep the invariant
// count(>= lo) >= k > count(>= hi) until at most kCandidates keys lie in [lo, hi) (typically after the sign
// and exponent bits, ~10 passes), then those keys are gathered into shared memory and the bisection ends
// there: keys below lo never count, keys >= hi always do. Every thread of the block calls it.
constexpr int kCandidates = 4096;

__device__ uint32_t kth_largest_key(const float* x, int64_t c, float temperature, int64_t k, float max_value,
                                    long long* smem_i) {
  __shared__ uint32_t candidates[kCandidates];
  __shared__ int n_candidates;
  const int t = threadIdx.x;
  auto count_at_least = [&](uint32_t key) {
    long long n = 0;
    for (int64_t i = t; i < c; i += kThreads)
      n += sampling_rules::top_k_key(x[i], temperature) >= key;
    return block_reduce(n, SumI64{}, smem_i);
  };
  uint32_t lo = sampling_rules::order_key(-__builtin_huge_valf());
  uint32_t hi = sampling_rules::top_k_key(max_value, temperature);
  long long at_least_lo = c;  // every key is >= key(-inf)
  long long at_least_hi = count_at_least(hi);
  if (at_least_hi >= k) return hi;
  while (hi - lo > 1 && at_least_lo - at_least_hi > kCandidates) {
    const uint32_t mid = lo + (hi - lo) / 2;
    const long long n = count_at_least(mid);
    if (n >= k) {
      lo = mid;
      at_least_lo = n;
    } else {
      hi = mid;
      at_least_hi = n;
    }
  }
  if (hi - lo <= 1) return lo;
  if (t == 0) n_candidates = 0;
  __syncthreads();
  for (int64_t i = t; i < c; i += kThreads) {
    const uint32_t key = sampling_rules::top_k_key(x[i], temperature);
    if (key >= lo && key < hi) candidates[atomicAdd(&n_candidates, 1)] = key;
  }
  __syncthreads();
  const int n = n_candidates;
  const long long above = at_least_hi;
  return sampling_rules::last_holding(lo, hi, [&](uint32_t key) {
    long long m = 0;
    for (int j = t; j < n; j += kThreads)
      m += candidates[j] >= key;
    return above + block_reduce(m, SumI64{}, smem_i) >= k;
  });
}

// The nucleus threshold: the largest t in [0, 1] whose kept mass (of the probabilities p(i) >= t) still
// reaches target, i.e. sampling_rules::last_holding over t's float bits, found in two phases as
// kth_largest_key: passes over the row keep mass(>= lo) >= target > mass(>= hi) and count the probabilities
// in [lo, hi) until at most kCandidates are left there (~10 passes instead of ~30), then those are gathered
// into shared memory and the bisection ends there, with mass(>= hi) standing for everything above. Every
// thread of the block calls it.
template <typename Prob>
__device__ float nucleus_threshold(Prob p, int64_t c, double target, double* smem_d, long long* smem_i) {
  __shared__ float candidates[kCandidates];
  __shared__ int n_candidates;
  const int t = threadIdx.x;
  auto pass = [&](uint32_t key, double* mass, long long* count) {
    const float threshold = __uint_as_float(key);
    double sum = 0;
    long long n = 0;
    for (int64_t i = t; i < c; i += kThreads) {
      const float q = p(i);
      if (q >= threshold) {
        sum += q;
        ++n;
      }
    }
    *mass = block_reduce(sum, SumOp{}, smem_d);
    *count = block_reduce(n, SumI64{}, smem_i);
  };
  uint32_t lo = 0, hi = __float_as_uint(1.0f);
  double mass_hi = 0;
  long long count_hi = 0;
  pass(hi, &mass_hi, &count_hi);
  if (mass_hi >= target) return 1.0f;
  long long count_lo = c;  // every probability is >= 0
  while (hi - lo > 1 && count_lo - count_hi > kCandidates) {
    const uint32_t mid = lo + (hi - lo) / 2;
    double mass = 0;
    long long count = 0;
    pass(mid, &mass, &count);
    if (mass >= target) {
      lo = mid;
      count_lo = count;
    } else {
      hi = mid;
      mass_hi = mass;
      count_hi = count;
    }
  }
  if (hi - lo <= 1) return __uint_as_float(lo);
  if (t == 0) n_candidates = 0;
  __syncthreads();
  const float lo_value = __uint_as_float(lo), hi_value = __uint_as_float(hi);
  for (int64_t i = t; i < c; i += kThreads) {
    const float q = p(i);
    if (q >= lo_value && q < hi_value) candidates[atomicAdd(&n_candidates, 1)] = q;
  }
  __syncthreads();
  const int n = n_candidates;
  const double above = mass_hi;
  return __uint_as_float(sampling_rules::last_holding(lo, hi, [&](uint32_t key) {
    const float threshold = __uint_as_float(key);
    double sum = 0;
    for (int j = t; j < n; j += kThreads) {
      if (candidates[j] >= threshold) sum += candidates[j];
    }
    return above + block_reduce(sum, SumOp{}, smem_d) >= target;
  }));
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* __restrict__ logits, const float* __restrict__ params,
                       int32_t* __restrict__ out, int64_t c) {
  __shared__ float smem_f[kWarps];
  __shared__ double smem_d[kWarps];
  __shared__ long long smem_i[kWarps];
  __shared__ long long found;
  const float* x = logits + static_cast<int64_t>(blockIdx.x) * c;
  const float* row_params = params + static_cast<int64_t>(blockIdx.x) * kSampleRowsParams;
  const float temperature = row_params[0], top_p = row_params[1], min_p = row_params[2];
  const float uniform = row_params[3];
  const int64_t top_k = sampling_rules::effective_top_k(row_params[4], c);
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

  // Top-k: tokens whose key is below the k-th largest have p = 0 from here on; kth_key 0 masks nothing.
  uint32_t kth_key = 0;
  if (top_k > 0) {
    kth_key = kth_largest_key(x, c, temperature, top_k, max_value, smem_i);
  }
  auto p = [&](int64_t i) {
    const float v = x[i];
    if (kth_key != 0 && sampling_rules::top_k_key(v, temperature) < kth_key) return 0.0f;
    return prob(v, max_value, temperature);
  };

  auto mass_at_least = [&](float threshold) {
    double sum = 0;
    for (int64_t i = t; i < c; i += kThreads) {
      const float q = p(i);
      if (q >= threshold) sum += q;
    }
    return block_reduce(sum, SumOp{}, smem_d);
  };
  float threshold = 0.0f;
  if (top_p < 1.0f) {
    const double target = static_cast<double>(top_p) * mass_at_least(0.0f);
    threshold = nucleus_threshold(p, c, target, smem_d, smem_i);
  }
  threshold = fmaxf(threshold, min_p);

  double mine = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float q = p(i);
    if (q > 0.0f && q >= threshold) mine += q;
  }
  double total = 0;
  const double before = block_exclusive_scan(mine, smem_d, &total);
  const double target = static_cast<double>(uniform) * total;
  if (mine > 0 && target >= before && target < before + mine) {
    double cumulative = before;
    int64_t last = -1;
    for (int64_t i = begin; i < end; ++i) {
      const float q = p(i);
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
      const float q = p(i);
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

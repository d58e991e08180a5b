// CUDA matmul: out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]); out, bias f32; w f32, f16 or bf16; x f32 or of
// w's 16-bit type (matmul_16bit_x: the same paths without the conversion).
//
// Paths, chosen from the measured time per call on the Llama-3-8B projection shapes (H100,
// tools/bench/matmul_cuda.cpp; docs/BENCHMARKS.md):
// m = 1 (single-sequence decode), or m <= 8 with f32 w: our GEMV (matmul_gemv.cu), w streamed once, x kept in
//   f32; 0.90-1.05 of the copy bandwidth at m = 1, but CUDA-core arithmetic caps it near 0.45 at m = 8. A
//   batch-invariant call (MatmulArgs::batch_invariant: the paged engine) takes the skinny GEMM at m = 1 too,
//   so a sequence decoding alone gets the bits it gets in a batch of up to 16.
// 16-bit w, 2 <= m <= kSkinnyMaxRows (batched decode): the skinny tensor-core GEMM (matmul_skinny.cu), f32 x
//   rounded to w's type as it is read; 0.8-1.0 of the copy bandwidth at m = 8, 0.65-0.93 at m = 16, where
//   cuBLASLt's smallest tiles reach 0.45 at m = 8.
// Otherwise: cuBLASLt. In its column-major terms our row-major out [m, n] is D = out^T, n x m with
//   ld n; w row-major [n, k] is a column-major k x n matrix (ld k), so A = that matrix with op(A) = T gives
//   the n x k factor; x row-major [m, k] is a column-major k x m matrix (ld k) = x^T, so B = x with op(B) =
//   N. D = op(A) . op(B) = w . x^T = out^T: the "TN" case cuBLASLt's kernels favour. f16/bf16 w: x is first
//   rounded to w's type into backend scratch (tensor cores take equal input types), then A, B 16-bit, C = D
//   f32, CUBLAS_COMPUTE_32F, f32 scale. So for m > 1 with 16-bit weights every path computes with x rounded
//   to the weight type (tests/cuda/test_matmul.cpp compares against exactly that). f32 w: everything f32
//   with CUBLAS_COMPUTE_32F (no TF32: it must match the CPU to ~1e-5). The bias rides on
//   CUBLASLT_EPILOGUE_BIAS (bias length = rows of D = n, f32 like D); where no algorithm takes the epilogue,
//   a separate kernel adds it. Algorithm: see matmul_cublaslt.h (16-bit w from 128 rows up: the fastest of
//   the heuristic's candidates, timed once per row-count bucket). Where cuBLASLt offers none or fails (odd
//   leading dimensions, misaligned views), the GEMV runs over x in groups of 8 rows, on x rounded the same
//   way.
// An addend (MatmulArgs::addend, the residual): added in the GEMV's and the skinny GEMM's epilogue after the
//   bias, and by cuBLASLt as C with beta = 1 (without a bias; after one, and on the fallbacks, by
//   add_addend_kernel): one f32 rounding of the sum either way, the add op's bits.
// matmul_swiglu (the MLP down projection on x = [gate | up]) forms silu(gate) * up with the swiglu kernels'
//   formula while reading x: into f32 scratch for the GEMV and the f32 path, straight into w's 16-bit type
//   for the GEMM. Every path equals swiglu followed by matmul bit for bit.
// Floor: m <= 8: bytes(w) / bandwidth; larger m: 2*m*n*k FLOPs at the bf16 (or f32) matrix rate.
// Reference: the CPU matmul; tests/cuda/test_matmul.cpp, tests/cuda/test_matmul_swiglu.cpp.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/dependent_launch.cuh"
#include "backend/cuda/kernels/matmul_cublaslt.h"
#include "backend/cuda/kernels/matmul_gemv.h"
#include "backend/cuda/kernels/matmul_skinny.h"
#include "ops/kernel_table.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

constexpr int kElementwiseThreads = 256;

unsigned elementwise_blocks(int64_t count) {
  // Grid-stride loops: enough blocks to fill the GPU, never more than the work needs.
  return static_cast<unsigned>(
      std::clamp<int64_t>((count + kElementwiseThreads - 1) / kElementwiseThreads, 1, 4096));
}

__device__ __forceinline__ void store_as(float v, __nv_bfloat16* p) {
  *p = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void store_as(float v, __half* p) {
  *p = __float2half_rn(v);
}
__device__ __forceinline__ float round_through(float v, __nv_bfloat16) {
  return __bfloat162float(__float2bfloat16_rn(v));
}
__device__ __forceinline__ float round_through(float v, __half) {
  return __half2float(__float2half_rn(v));
}

// x (f32) -> w's 16-bit type, the B operand of the tensor-core GEMM.
template <typename T>
__global__ void convert_kernel(const float* __restrict__ src, T* __restrict__ dst, int64_t count) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x)
    store_as(src[i], dst + i);
}

__global__ void add_bias_kernel(float* __restrict__ out, const float* __restrict__ bias, int64_t m,
                                int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * n;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] += bias[i % n];
}

// x rounded to w's type but kept f32: the fallback's input, so every m > 8 path sees the same x.
template <typename T>
__global__ void round_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = round_through(src[i], T{});
}

// A 16-bit x widened to f32, for the GEMV fallback of matmul_16bit_x.
template <typename T>
__global__ void widen_kernel(const T* __restrict__ src, float* __restrict__ dst, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = static_cast<float>(src[i]);
}

// The GEMV over x in groups of kGemvMaxRows rows: w is read ceil(m / 8) times; for shapes cuBLASLt refuses.
void gemv_in_groups(CudaBackend& backend, DType dtype, const float* x, const void* w, const float* bias,
                    float* out, int64_t m, int64_t n, int64_t k) {
  for (int64_t i0 = 0; i0 < m; i0 += kGemvMaxRows) {
    launch_gemv(backend, dtype, x + i0 * k, w, bias, out + i0 * n, std::min(kGemvMaxRows, m - i0), n, k);
  }
}

// The x last converted to 16 bits for a GEMM. A prefill runs the q, k and v projections back to back on the
// same x (three row ranges of one fused weight); the second and third find x already converted in scratch,
// saving two conversions per layer (~1 ms of a 2,048-token Llama-3-8B prefill). Valid only while nothing
// else was queued since (CudaBackend::queued_work), scratch did not move, and x is the same view.
struct ConvertedX {
  const CudaBackend* backend = nullptr;
  const float* x = nullptr;
  int64_t count = 0;
  int dtype_bytes = 0;
  bool is_bf16 = false;
  const void* converted = nullptr;
  uint64_t memory_generation = 0;
  uint64_t queued_work = 0;
};

thread_local ConvertedX last_converted;

// x already of w's 16-bit type T (the CUDA graph's 16-bit activations): the same paths as for f32 x, without
// the conversion (each path computes on x rounded to T anyway, so the results are those of the f32 x it was
// rounded from).
// Returns whether `addend` (nullptr: none) was added: by the GEMV's or the skinny GEMM's epilogue, or as
// cuBLASLt's C without a bias; the other paths (and cuBLASLt after a bias) leave it to the caller.
template <typename T>
bool matmul_16bit_x(CudaBackend& backend, const MatmulArgs& a, const float* addend) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  const void* x = a.x.data;
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  const DType dtype = a.w.dtype;
  last_converted = {};
  const bool skinny = skinny_supports(dtype, x, a.w.data, m, k);
  const float* c_addend = bias == nullptr ? addend : nullptr;  // cuBLASLt's C: only without a bias
  if (m == 1 && !(a.batch_invariant && skinny)) {
    launch_gemv_16bit_x(backend, dtype, x, a.w.data, bias, out, n, k, addend);
    return addend != nullptr;
  } else if (skinny) {
    launch_skinny(backend, dtype, x, /*x_is_f32=*/false, a.w.data, bias, out, m, n, k, addend);
    return addend != nullptr;
  } else if (k > 0 && run_cublaslt(backend, dtype, a.w.data, x, bias, out, DType::kF32, m, n, k, c_addend)) {
    return c_addend != nullptr;
  } else {
    // What cuBLASLt refuses: the f32 GEMV over x widened (exactly) into scratch.
    const int64_t count = m * k;
    auto* wide = static_cast<float*>(
        backend.scratch(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float)));
    if (wide == nullptr) return false;  // scratch() recorded the failure; synchronize() reports it
    if (count > 0) {
      widen_kernel<T><<<elementwise_blocks(count), kElementwiseThreads, 0, backend.stream()>>>(
          static_cast<const T*>(x), wide, count);
      backend.note_launch("widen_kernel");
    }
    gemv_in_groups(backend, dtype, wide, a.w.data, bias, out, m, n, k);
  }
  return false;
}

template <typename T>
void matmul_cuda(Backend& base, const MatmulArgs& a);

// out[i] = addend[i] + out[i] over count elements: the addend of a path that does not fold it.
__global__ void add_addend_kernel(float* __restrict__ out, const float* __restrict__ addend, int64_t count) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] = addend[i] + out[i];
}

void launch_add_addend(CudaBackend& backend, float* out, const float* addend, int64_t count) {
  cuda_kernels::launch_dependent(backend, "add_addend_kernel", add_addend_kernel,
                                 dim3(elementwise_blocks(count)), dim3(kElementwiseThreads), 0, out, addend,
                                 count);
}

// out of w's 16-bit type T (the gate/up output for matmul_swiglu, no bias): cuBLASLt writes T straight from
// its f32 accumulators where it takes the call (a GEMM on 16-bit x); elsewhere the f32 paths write into
// scratch, beyond the part of it they use themselves (at most [m, k] f32: converted or rounded x), and a
// conversion rounds that into out. Either way out is the f32 result rounded to nearest-even.
template <typename T>
void matmul_16bit_out(CudaBackend& backend, const MatmulArgs& a) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  if (a.x.dtype == a.w.dtype && m > kSkinnyMaxRows && k > 0) {
    last_converted = {};
    if (run_cublaslt(backend, a.w.dtype, a.w.data, a.x.data, nullptr, a.out.data, a.out.dtype, m, n, k))
      return;
  }
  constexpr size_t kAlign = 256;
  const size_t reserved = (static_cast<size_t>(m * k) * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  auto* base = static_cast<char*>(backend.scratch(reserved + static_cast<size_t>(m * n) * sizeof(float)));
  if (base == nullptr) return;  // scratch() recorded the failure; synchronize() reports it
  auto* f32_out = reinterpret_cast<float*>(base + reserved);
  MatmulArgs f32 = a;
  f32.out = TensorView{f32_out, DType::kF32, a.out.shape, a.out.device};
  matmul_cuda<T>(backend, f32);
  last_converted = {};  // scratch now also holds the f32 result
  cuda_kernels::launch_dependent(backend, "convert_kernel", convert_kernel<T>,
                                 dim3(elementwise_blocks(m * n)), dim3(kElementwiseThreads), 0,
                                 static_cast<const float*>(f32_out), static_cast<T*>(a.out.data), m * n);
}

// The matmul over every path; returns whether `addend` (nullptr: none) was added, as matmul_16bit_x.
template <typename T>
bool matmul_paths(CudaBackend& backend, const MatmulArgs& a, const float* addend) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  if constexpr (!std::is_same_v<T, float>) {
    if (a.out.dtype != DType::kF32) {
      matmul_16bit_out<T>(backend, a);  // never with an addend (ops/matmul.h)
      return false;
    }
    if (a.x.dtype != DType::kF32) return matmul_16bit_x<T>(backend, a, addend);
  }
  const auto* x = a.x.as<const float>();
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  const DType dtype = a.w.dtype;
  const bool invariant_one = m == 1 && a.batch_invariant && skinny_supports(dtype, x, a.w.data, m, k);
  if ((m == 1 && !invariant_one) || (std::is_same_v<T, float> && m <= kGemvMaxRows)) {
    launch_gemv(backend, dtype, x, a.w.data, bias, out, m, n, k, addend);
    return addend != nullptr;
  }
  if (!std::is_same_v<T, float> && skinny_supports(dtype, x, a.w.data, m, k)) {
    launch_skinny(backend, dtype, x, /*x_is_f32=*/true, a.w.data, bias, out, m, n, k, addend);
    return addend != nullptr;
  }
  const float* c_addend = bias == nullptr ? addend : nullptr;  // cuBLASLt's C: only without a bias
  if (k == 0) {  // nothing to multiply: out = bias or 0, which the GEMV writes
    gemv_in_groups(backend, dtype, x, a.w.data, bias, out, m, n, k);
    return false;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (run_cublaslt(backend, dtype, a.w.data, x, bias, out, DType::kF32, m, n, k, c_addend))
      return c_addend != nullptr;
    gemv_in_groups(backend, dtype, x, a.w.data, bias, out, m, n, k);
    return false;
  } else {
    const int64_t count = m * k;
    auto* x16 = static_cast<T*>(backend.scratch(static_cast<size_t>(count) * sizeof(T)));
    if (x16 == nullptr) {  // no device memory for the converted x: the f32 GEMV still gives a result
      gemv_in_groups(backend, dtype, x, a.w.data, bias, out, m, n, k);
      return false;
    }
    const ConvertedX want{&backend,
                          x,
                          count,
                          static_cast<int>(sizeof(T)),
                          std::is_same_v<T, __nv_bfloat16>,
                          x16,
                          backend.memory_generation(),
                          backend.queued_work()};
    const ConvertedX& have = last_converted;
    const bool reuse = have.backend == want.backend && have.x == want.x && have.count == want.count &&
                       have.dtype_bytes == want.dtype_bytes && have.is_bf16 == want.is_bf16 &&
                       have.converted == want.converted && have.memory_generation == want.memory_generation &&
                       have.queued_work == want.queued_work;
    last_converted = {};
    if (!reuse) {
      cuda_kernels::launch_dependent(backend, "convert_kernel", convert_kernel<T>,
                                     dim3(elementwise_blocks(count)), dim3(kElementwiseThreads), 0, x, x16,
                                     count);
    }
    if (run_cublaslt(backend, dtype, a.w.data, x16, bias, out, DType::kF32, m, n, k, c_addend)) {
      last_converted = want;
      last_converted.memory_generation = backend.memory_generation();
      last_converted.queued_work = backend.queued_work();
      return c_addend != nullptr;
    }
    // A new scratch() call may replace the buffer above; the converted x is not needed any more.
    auto* rounded = static_cast<float*>(backend.scratch(static_cast<size_t>(count) * sizeof(float)));
    if (rounded == nullptr) {
      gemv_in_groups(backend, dtype, x, a.w.data, bias, out, m, n, k);
      return false;
    }
    round_kernel<T>
        <<<elementwise_blocks(count), kElementwiseThreads, 0, backend.stream()>>>(x, rounded, count);
    backend.note_launch("round_kernel");
    gemv_in_groups(backend, dtype, rounded, a.w.data, bias, out, m, n, k);
    return false;
  }
}

// The addend rides on the GEMV's and the skinny GEMM's epilogue (after the bias) and on cuBLASLt's C (beta =
// 1) where a GEMM without bias takes the call; elsewhere, and after cuBLASLt's bias (out = (x . w^T + bias) +
// addend, as the add op after the matmul), a kernel adds it.
template <typename T>
void matmul_cuda(Backend& base, const MatmulArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  if (a.x.shape[0] == 0 || a.w.shape[0] == 0) return;
  const auto* addend = a.addend.data != nullptr ? a.addend.as<const float>() : nullptr;
  const bool folded = matmul_paths<T>(backend, a, addend);
  if (addend != nullptr && !folded) launch_add_addend(backend, a.out.as<float>(), addend, a.out.numel());
}

// ---- matmul_swiglu: the down projection reading x = [gate | up] ----

// silu(g) * u exactly as the swiglu kernels compute it, so the fused op equals swiglu then matmul bit for
// bit.
__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

// x = [gate | up] element as f32: f32 as it is, or w's 16-bit type widened (graph/gate_up_output_pass.h).
__device__ __forceinline__ float load_f32(const float* p) {
  return *p;
}
__device__ __forceinline__ float load_f32(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}
__device__ __forceinline__ float load_f32(const __half* p) {
  return __half2float(*p);
}

// Four consecutive elements in one 16-byte (f32) or 8-byte (16-bit) load.
__device__ __forceinline__ void load4(const float* p, float v[4]) {
  const float4 f = *reinterpret_cast<const float4*>(p);
  v[0] = f.x;
  v[1] = f.y;
  v[2] = f.z;
  v[3] = f.w;
}
template <typename X>
__device__ __forceinline__ void load4(const X* p, float v[4]) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const X* e = reinterpret_cast<const X*>(&raw);
  for (int i = 0; i < 4; ++i)
    v[i] = load_f32(e + i);
}

template <typename X>
__device__ __forceinline__ float silu_mul_at(const X* __restrict__ x, int64_t i, int64_t k) {
  const int64_t row = i / k, col = i - row * k;
  return silu_mul(load_f32(x + row * 2 * k + col), load_f32(x + row * 2 * k + k + col));
}

// The activation in f32 [m, k] (for the GEMV and the f32 path).
template <typename X>
__global__ void swiglu_rows_kernel(const X* __restrict__ x, float* __restrict__ dst, int64_t m, int64_t k) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * k;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = silu_mul_at(x, i, k);
}

// The activation rounded straight to w's 16-bit type: the GEMM's B operand, without the f32 round trip
// through memory (that round trip is 117 MB written and read per layer for a 2,048-token Llama-3-8B prefill).
template <typename T, typename X>
__global__ void swiglu_convert_kernel(const X* __restrict__ x, T* __restrict__ dst, int64_t m, int64_t k) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * k;
       i += int64_t{gridDim.x} * blockDim.x)
    store_as(silu_mul_at(x, i, k), dst + i);
}

// swiglu_convert_kernel for k % 4 == 0 and x aligned to four elements: one row per grid row (blockIdx.y, so
// no division), four columns per thread through one load of gate and of up and one 8-byte store. The
// elementwise version ran at 0.66 of the copy bandwidth on a 1,029-row mixed step (75 us per layer for
// 148 MB); this one moves a 512-row step's 73 MB (f32 x) in 24 us (H100).
template <typename T, typename X>
__global__ void swiglu_convert4_kernel(const X* __restrict__ x, T* __restrict__ dst, int64_t k) {
  cuda_kernels::wait_for_prior_kernels();  // launched as a dependent grid (dependent_launch.cuh)
  cuda_kernels::allow_dependent_launch();
  const int64_t row = blockIdx.y;
  const X* gate = x + row * 2 * k;
  const X* up = gate + k;
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < k / 4;
       c += int64_t{gridDim.x} * blockDim.x) {
    float g[4], u[4];
    load4(gate + 4 * c, g);
    load4(up + 4 * c, u);
    T out[4];
    for (int i = 0; i < 4; ++i)
      store_as(silu_mul(g[i], u[i]), out + i);
    *reinterpret_cast<uint2*>(dst + row * k + 4 * c) = *reinterpret_cast<const uint2*>(out);
  }
}

template <typename T, typename X>
__global__ void swiglu_round_kernel(const X* __restrict__ x, float* __restrict__ dst, int64_t m, int64_t k) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < m * k;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = round_through(silu_mul_at(x, i, k), T{});
}

// matmul_swiglu with w of type T and x = [gate | up] of type X (f32, or T).
// Returns whether `addend` (nullptr: none) was added, as matmul_16bit_x.
template <typename T, typename X>
bool matmul_swiglu_typed(CudaBackend& backend, const MatmulSwigluArgs& a, const float* addend) {
  const int64_t m = a.x.shape[0], k = a.w.shape[1], n = a.w.shape[0];
  const auto* x = a.x.as<const X>();
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  const DType dtype = a.w.dtype;
  const int64_t count = m * k;
  const float* c_addend = bias == nullptr ? addend : nullptr;  // cuBLASLt's C: only without a bias
  last_converted = {};                                         // scratch is about to hold another activation
  // Single-sequence decode, f32 weights and k = 0: the activation in f32 scratch, then the plain path (none
  // of which uses scratch again, so the activation stays put).
  if ((m == 1 && !a.batch_invariant) || std::is_same_v<T, float> || k == 0) {
    auto* act = static_cast<float*>(
        backend.scratch(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float)));
    if (act == nullptr) return false;  // scratch() recorded the failure; synchronize() reports it
    if (count > 0) {
      swiglu_rows_kernel<X>
          <<<elementwise_blocks(count), kElementwiseThreads, 0, backend.stream()>>>(x, act, m, k);
      backend.note_launch("swiglu_rows_kernel");
    }
    if (m <= kGemvMaxRows) {  // m == 1, or f32 weights
      launch_gemv(backend, dtype, act, a.w.data, bias, out, m, n, k, addend);
      return addend != nullptr;
    } else if (k > 0 &&
               run_cublaslt(backend, dtype, a.w.data, act, bias, out, DType::kF32, m, n, k, c_addend)) {
      return c_addend != nullptr;
    } else {
      gemv_in_groups(backend, dtype, act, a.w.data, bias, out, m, n, k);
    }
    return false;
  }
  if constexpr (!std::is_same_v<T, float>) {
    auto* x16 = static_cast<T*>(backend.scratch(static_cast<size_t>(count) * sizeof(T)));
    if (x16 == nullptr) return false;
    const bool vectorized = k % 4 == 0 && m <= 65535 &&
                            reinterpret_cast<uintptr_t>(x) % (4 * sizeof(X)) == 0 &&
                            reinterpret_cast<uintptr_t>(x16) % 8 == 0;
    if (vectorized) {
      const int64_t per_row = (k / 4 + kElementwiseThreads - 1) / kElementwiseThreads;
      cuda_kernels::launch_dependent(backend, "swiglu_convert4_kernel", swiglu_convert4_kernel<T, X>,
                                     dim3(static_cast<unsigned>(per_row), static_cast<unsigned>(m)),
                                     dim3(kElementwiseThreads), 0, x, x16, k);
    } else {
      cuda_kernels::launch_dependent(backend, "swiglu_convert_kernel", swiglu_convert_kernel<T, X>,
                                     dim3(elementwise_blocks(count)), dim3(kElementwiseThreads), 0, x, x16, m,
                                     k);
    }
    if (skinny_supports(dtype, x16, a.w.data, m, k)) {
      launch_skinny(backend, dtype, x16, /*x_is_f32=*/false, a.w.data, bias, out, m, n, k, addend);
      return addend != nullptr;
    }
    if (run_cublaslt(backend, dtype, a.w.data, x16, bias, out, DType::kF32, m, n, k, c_addend))
      return c_addend != nullptr;
    auto* rounded = static_cast<float*>(backend.scratch(static_cast<size_t>(count) * sizeof(float)));
    if (rounded == nullptr) return false;
    swiglu_round_kernel<T, X>
        <<<elementwise_blocks(count), kElementwiseThreads, 0, backend.stream()>>>(x, rounded, m, k);
    backend.note_launch("swiglu_round_kernel");
    gemv_in_groups(backend, dtype, rounded, a.w.data, bias, out, m, n, k);
  }
  return false;
}

template <typename T>
void matmul_swiglu_cuda(Backend& base, const MatmulSwigluArgs& a) {
  CudaBackend& backend = cuda_backend(base);
  if (a.x.shape[0] == 0 || a.w.shape[0] == 0) return;
  const auto* addend = a.addend.data != nullptr ? a.addend.as<const float>() : nullptr;
  bool folded = false;
  if constexpr (!std::is_same_v<T, float>) {
    if (a.x.dtype != DType::kF32) {
      folded = matmul_swiglu_typed<T, T>(backend, a, addend);
    } else {
      folded = matmul_swiglu_typed<T, float>(backend, a, addend);
    }
  } else {
    folded = matmul_swiglu_typed<T, float>(backend, a, addend);
  }
  if (addend != nullptr && !folded) launch_add_addend(backend, a.out.as<float>(), addend, a.out.numel());
}

}  // namespace

void launch_add_bias(CudaBackend& backend, float* out, const float* bias, int64_t m, int64_t n) {
  add_bias_kernel<<<elementwise_blocks(m * n), kElementwiseThreads, 0, backend.stream()>>>(out, bias, m, n);
  backend.note_launch("add_bias_kernel");
}

namespace {

const KernelRegistrar<MatmulSwigluArgs> kRegisterSwigluF32(DeviceKind::kCuda, DType::kF32,
                                                           matmul_swiglu_cuda<float>);
const KernelRegistrar<MatmulSwigluArgs> kRegisterSwigluF16(DeviceKind::kCuda, DType::kF16,
                                                           matmul_swiglu_cuda<__half>);
const KernelRegistrar<MatmulSwigluArgs> kRegisterSwigluBF16(DeviceKind::kCuda, DType::kBF16,
                                                            matmul_swiglu_cuda<__nv_bfloat16>);

const KernelRegistrar<MatmulArgs> kRegisterF32(DeviceKind::kCuda, DType::kF32, matmul_cuda<float>);
const KernelRegistrar<MatmulArgs> kRegisterF16(DeviceKind::kCuda, DType::kF16, matmul_cuda<__half>);
const KernelRegistrar<MatmulArgs> kRegisterBF16(DeviceKind::kCuda, DType::kBF16, matmul_cuda<__nv_bfloat16>);

}  // namespace
}  // namespace autoglm

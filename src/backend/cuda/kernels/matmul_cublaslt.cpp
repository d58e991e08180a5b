// The cuBLASLt path of the CUDA matmul and its choice of algorithm: see matmul_cublaslt.h.
#include "backend/cuda/kernels/matmul_cublaslt.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

namespace autoglm {
namespace {

constexpr int kTuningRuns = 3;  // timed runs per candidate, after one untimed run (lazy kernel loading)

// ---- cuBLASLt plans ----

// Largest power of two dividing the address, capped at 256 (cuBLASLt's default assumption).
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  return static_cast<uint32_t>(std::min<uintptr_t>(256, a & (~a + 1)));
}

struct PlanKey {
  int device = 0;
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kF32;
  DType out_dtype = DType::kF32;
  bool bias = false;
  uint32_t align_w = 0, align_x = 0, align_out = 0, align_bias = 0;
  uint32_t align_c = 0;  // C: the addend's alignment, or out's (C is D) without one
  bool tuned = false;    // the backend tunes (two backends of one device may differ)
  int sm_count = 0;      // BackendOptions::gemm_sm_count
  auto tie() const {
    return std::tie(device, m, n, k, dtype, out_dtype, bias, align_w, align_x, align_out, align_bias, align_c,
                    tuned, sm_count);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

struct Plan {
  bool usable = false;    // cuBLASLt has an algorithm for this problem
  bool epilogue = false;  // the bias rides on CUBLASLT_EPILOGUE_BIAS (else add_bias_kernel)
  cublasLtMatmulAlgo_t algo{};
};

std::mutex& plan_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<PlanKey, Plan>& plan_cache() {
  static std::map<PlanKey, Plan> cache;
  return cache;
}

struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using DescPtr = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using LayoutPtr = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using PreferencePtr = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

// The descriptors of one problem; valid() is false when cuBLASLt refused to create one.
struct Problem {
  DescPtr desc;
  LayoutPtr a, b, d;
  bool valid() const { return desc && a && b && d; }
};

cudaDataType_t cuda_type(DType dtype) {
  if (dtype == DType::kF16) return CUDA_R_16F;
  if (dtype == DType::kBF16) return CUDA_R_16BF;
  return CUDA_R_32F;
}

LayoutPtr make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  if (cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols),
                                 ld) != CUBLAS_STATUS_SUCCESS) {
    return nullptr;
  }
  return LayoutPtr(layout);
}

Problem make_problem(DType dtype, DType out_dtype, int64_t m, int64_t n, int64_t k, const float* bias,
                     int sm_count) {
  Problem p;
  cublasLtMatmulDesc_t desc = nullptr;
  if (cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) return p;
  p.desc.reset(desc);
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  bool ok = cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa) ==
                CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb) ==
                CUBLAS_STATUS_SUCCESS;
  if (sm_count > 0) {
    ok = ok && cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &sm_count,
                                              sizeof sm_count) == CUBLAS_STATUS_SUCCESS;
  }
  if (bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const int32_t bias_type = CUDA_R_32F;
    ok = ok &&
         cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                        sizeof bias_type) == CUBLAS_STATUS_SUCCESS;
  }
  if (!ok) {
    p.desc.reset();
    return p;
  }
  const cudaDataType_t ab = cuda_type(dtype);
  p.a = make_layout(ab, k, n, k);                    // w: column-major k x n, used transposed
  p.b = make_layout(ab, k, m, k);                    // x: column-major k x m
  p.d = make_layout(cuda_type(out_dtype), n, m, n);  // out^T: column-major n x m
  return p;
}

// The heuristic's first `want` candidates for this problem, best first (empty when it has none).
std::vector<cublasLtMatmulAlgo_t> find_algos(CudaBackend& backend, const Problem& p, const PlanKey& key,
                                             int want) {
  cublasLtMatmulPreference_t raw = nullptr;
  if (cublasLtMatmulPreferenceCreate(&raw) != CUBLAS_STATUS_SUCCESS) return {};
  PreferencePtr pref(raw);
  const uint64_t workspace = backend.workspace_bytes();
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_w},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_x},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_out}};
  if (cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                           sizeof workspace) != CUBLAS_STATUS_SUCCESS) {
    return {};
  }
  for (const auto& [attribute, value] : alignments) {
    if (cublasLtMatmulPreferenceSetAttribute(raw, attribute, &value, sizeof value) != CUBLAS_STATUS_SUCCESS)
      return {};
  }
  std::array<cublasLtMatmulHeuristicResult_t, kGemmTuningCandidates> results{};
  int count = 0;
  want = std::clamp(want, 1, kGemmTuningCandidates);
  if (cublasLtMatmulAlgoGetHeuristic(backend.cublaslt(), p.desc.get(), p.a.get(), p.b.get(), p.d.get(),
                                     p.d.get(), raw, want, results.data(), &count) != CUBLAS_STATUS_SUCCESS) {
    return {};
  }
  std::vector<cublasLtMatmulAlgo_t> algos;
  for (int i = 0; i < count; ++i) {
    if (results[static_cast<size_t>(i)].state == CUBLAS_STATUS_SUCCESS)
      algos.push_back(results[static_cast<size_t>(i)].algo);
  }
  return algos;
}

// ---- Choosing the algorithm ----

// The bucket choices, keyed like the plans but with m the bucket's row count and `bias` whether the problem
// carries the bias epilogue (align_bias 0).
std::map<PlanKey, cublasLtMatmulAlgo_t>& tuned_algos() {  // guarded by plan_mutex()
  static std::map<PlanKey, cublasLtMatmulAlgo_t> algos;
  return algos;
}

// The call being planned: candidates are timed on its own operands (out is rewritten by the real call after).
struct Operands {
  const void* w = nullptr;
  const void* x = nullptr;
  const float* bias = nullptr;
  void* out = nullptr;
  const float* addend = nullptr;  // C with beta = 1, or nullptr: C is out with beta = 0
};

bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream, &status) != cudaSuccess || status != cudaStreamCaptureStatusNone;
}

// With o.addend, D = addend + A . B; timings pass an Operands without one (every run then writes the same
// out, which the real call rewrites).
bool enqueue(CudaBackend& backend, const Problem& p, const cublasLtMatmulAlgo_t& algo, const Operands& o) {
  const float alpha = 1.0f, beta = o.addend != nullptr ? 1.0f : 0.0f;
  const void* c = o.addend != nullptr ? static_cast<const void*>(o.addend) : o.out;
  return cublasLtMatmul(backend.cublaslt(), p.desc.get(), &alpha, o.w, p.a.get(), o.x, p.b.get(), &beta, c,
                        p.d.get(), o.out, p.d.get(), &algo, backend.workspace(), backend.workspace_bytes(),
                        backend.stream()) == CUBLAS_STATUS_SUCCESS;
}

// Device memory for the L2 cache to be overwritten with, and the two events of a timing; freed at the end.
class TuningBench {
 public:
  explicit TuningBench(CudaBackend& backend)
      : backend_(backend),
        flush_bytes_(2 * static_cast<size_t>(std::max(backend.properties().l2CacheSize, 1))) {
    ok_ = cudaMalloc(&flush_, flush_bytes_) == cudaSuccess && cudaEventCreate(&start_) == cudaSuccess &&
          cudaEventCreate(&stop_) == cudaSuccess;
    // Out of memory only skips the tuning; clear the error so that the next launch check does not report it.
    if (!ok_) (void)cudaGetLastError();
  }
  ~TuningBench() {
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stop_ != nullptr) cudaEventDestroy(stop_);
    if (flush_ != nullptr) cudaFree(flush_);
  }
  TuningBench(const TuningBench&) = delete;
  TuningBench& operator=(const TuningBench&) = delete;
  bool ok() const { return ok_; }

  // The least of kTuningRuns times (ms), each run after the L2 is overwritten; < 0 when a run fails.
  float time(const Problem& p, const cublasLtMatmulAlgo_t& algo, const Operands& o) {
    const cudaStream_t stream = backend_.stream();
    if (!enqueue(backend_, p, algo, o)) return -1;
    float best = -1;
    for (int run = 0; run < kTuningRuns; ++run) {
      float ms = 0;
      if (cudaMemsetAsync(flush_, run, flush_bytes_, stream) != cudaSuccess ||
          cudaEventRecord(start_, stream) != cudaSuccess || !enqueue(backend_, p, algo, o) ||
          cudaEventRecord(stop_, stream) != cudaSuccess || cudaEventSynchronize(stop_) != cudaSuccess ||
          cudaEventElapsedTime(&ms, start_, stop_) != cudaSuccess) {
        return -1;
      }
      best = best < 0 ? ms : std::min(best, ms);
    }
    return best;
  }

 private:
  CudaBackend& backend_;
  size_t flush_bytes_ = 0;
  void* flush_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  bool ok_ = false;
};

bool algo_fits(CudaBackend& backend, const Problem& p, const cublasLtMatmulAlgo_t& algo) {
  cublasLtMatmulHeuristicResult_t result{};
  return cublasLtMatmulAlgoCheck(backend.cublaslt(), p.desc.get(), p.a.get(), p.b.get(), p.d.get(), p.d.get(),
                                 &algo, &result) == CUBLAS_STATUS_SUCCESS &&
         result.workspaceSize <= backend.workspace_bytes();
}

// The algorithm for problem p (see matmul_cublaslt.h); false when cuBLASLt has none.
bool choose_algo(CudaBackend& backend, const Problem& p, const PlanKey& key, bool epilogue, const Operands& o,
                 cublasLtMatmulAlgo_t* algo) {
  const bool sixteen_bit = key.dtype == DType::kF16 || key.dtype == DType::kBF16;
  const int64_t bucket = key.tuned && sixteen_bit ? gemm_tuning_bucket(key.m) : 0;
  PlanKey tune = key;
  tune.m = bucket;
  tune.bias = epilogue;
  tune.align_bias = 0;
  bool unfit = false;  // the bucket's choice does not take this row count: the heuristic's first, untimed
  if (bucket > 0) {
    std::lock_guard<std::mutex> lock(plan_mutex());
    const auto it = tuned_algos().find(tune);
    if (it != tuned_algos().end()) {
      if (algo_fits(backend, p, it->second)) {
        *algo = it->second;
        return true;
      }
      unfit = true;
    }
  }
  const std::vector<cublasLtMatmulAlgo_t> candidates =
      find_algos(backend, p, key, bucket > 0 && !unfit ? kGemmTuningCandidates : 1);
  if (candidates.empty()) return false;
  *algo = candidates.front();
  if (bucket == 0 || unfit || candidates.size() == 1 || capturing(backend.stream())) return true;
  TuningBench bench(backend);
  if (!bench.ok()) return true;
  float best = -1;
  for (const cublasLtMatmulAlgo_t& candidate : candidates) {
    const float ms = bench.time(p, candidate, o);
    if (ms >= 0 && (best < 0 || ms < best)) {
      best = ms;
      *algo = candidate;
    }
  }
  std::lock_guard<std::mutex> lock(plan_mutex());
  // A choice made meanwhile by another caller wins (every call of the bucket uses one algorithm).
  const auto [it, inserted] = tuned_algos().emplace(tune, *algo);
  if (!inserted && algo_fits(backend, p, it->second)) *algo = it->second;
  return true;
}

}  // namespace

int64_t gemm_tuning_bucket(int64_t m) {
  if (m < kGemmTuningMinRows) return 0;
  const int64_t width = m <= 1024 ? 64 : m <= 2048 ? 128 : 512;
  return (m + width - 1) / width * width;
}

bool run_cublaslt(CudaBackend& backend, DType dtype, const void* w, const void* x, const float* bias,
                  void* out, DType out_dtype, int64_t m, int64_t n, int64_t k, const float* addend) {
  if (addend != nullptr && (bias != nullptr || out_dtype != DType::kF32))
    return false;  // not a case it takes
  PlanKey key;
  key.device = backend.device().index;
  key.m = m;
  key.n = n;
  key.k = k;
  key.dtype = dtype;
  key.out_dtype = out_dtype;
  key.bias = bias != nullptr;
  key.align_w = alignment_of(w);
  key.align_x = alignment_of(x);
  key.align_out = alignment_of(out);
  key.align_bias = bias != nullptr ? alignment_of(bias) : 0;
  key.align_c = addend != nullptr ? alignment_of(addend) : key.align_out;
  key.tuned = backend.tunes_gemms();
  key.sm_count = backend.gemm_sm_count();

  Plan plan;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(plan_mutex());
    auto it = plan_cache().find(key);
    if (it != plan_cache().end()) {
      plan = it->second;
      cached = true;
    }
  }
  if (!cached) {
    // With a bias, first ask for the epilogue, then for a plain GEMM plus add_bias_kernel.
    const Operands operands{w, x, bias, out};
    Problem with_epilogue = make_problem(dtype, out_dtype, m, n, k, bias, key.sm_count);
    if (with_epilogue.valid() &&
        choose_algo(backend, with_epilogue, key, bias != nullptr, operands, &plan.algo)) {
      plan.usable = true;
      plan.epilogue = bias != nullptr;
    } else if (bias != nullptr) {
      Problem plain = make_problem(dtype, out_dtype, m, n, k, nullptr, key.sm_count);
      plan.usable = plain.valid() && choose_algo(backend, plain, key, false, operands, &plan.algo);
    }
    std::lock_guard<std::mutex> lock(plan_mutex());
    plan_cache()[key] = plan;
  }
  if (!plan.usable) return false;

  const Problem p = make_problem(dtype, out_dtype, m, n, k, plan.epilogue ? bias : nullptr, key.sm_count);
  if (!p.valid() || !enqueue(backend, p, plan.algo, Operands{w, x, bias, out, addend})) return false;
  if (bias != nullptr && !plan.epilogue) {
    launch_add_bias(backend, static_cast<float*>(out), bias, m, n);
  }
  return true;
}

}  // namespace autoglm

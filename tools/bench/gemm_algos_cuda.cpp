// cuBLASLt on the Llama-3-8B projection shapes at prefill and mixed-step row counts (m >= 128, where the
// GEMM is bound by the tensor cores, not by reading w): for each shape, m and output type (f32, as the matmul
// op writes, or bf16), the time of the heuristic's first algorithm and of the fastest of its first
// `--algos` candidates, as TFLOP/s. Tells whether choosing
// algorithms by timing, or writing 16-bit outputs, is worth it, before the matmul op does either.
//
//   bench_gemm_algos_cuda [--m 128,256,512,1024,2048] [--algos 16] [--reps 10] [--fill random|constant]
//                         [--sustain SECONDS --ranks 0,1,2]
//
// --fill: w and x uniform in [-1, 1) (default: what real weights and activations toggle), or one constant
// value (the tensor cores then draw far less power, and short runs overstate what a serving run gets).
// --sustain: instead of the table, for each m and each heuristic rank in --ranks, the four projections of a
// layer (f32 out) back to back for SECONDS after as long a pre-heat, as TFLOP/s over the whole period: the
// rate the device holds at its power limit, which is what a long serving run's GEMMs can reach.
//
// Layout as in kernels/matmul.cu: D (n x m, column-major) = op(A) . op(B) with A = w (k x n, op T), B = x
// (k x m, op N). Weights rotate over copies totalling >= 256 MB so that no call finds its w in L2.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_timing.h"

namespace autoglm {
namespace {

using bench::check;
using bench::parse_list;
using bench::RecordedCalls;
using bench::sustain;
using bench::Sustained;
using bench::time_calls;

void check_lt(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: cublas status %d\n", what, static_cast<int>(s));
    std::exit(1);
  }
}

struct Shape2 {
  const char* name;
  int64_t n, k;
};

constexpr Shape2 kShapes[] = {
    {"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};

struct Problem {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  ~Problem() {
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(d);
    cublasLtMatmulDescDestroy(desc);
  }
};

void make_problem(Problem& p, int64_t m, int64_t n, int64_t k, cudaDataType out_type) {
  check_lt(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
  check_lt(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
  check_lt(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k), "layout a");
  check_lt(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, k, m, k), "layout b");
  check_lt(cublasLtMatrixLayoutCreate(&p.d, out_type, n, m, n), "layout d");
}

// "tile 12 stages 8 splitk 1 cluster 2" from the algorithm's configuration (enum values of cublasLt.h).
std::string describe(const cublasLtMatmulAlgo_t& algo) {
  auto get = [&](cublasLtMatmulAlgoConfigAttributes_t attr) {
    uint32_t v = 0;
    size_t written = 0;
    cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof v, &written);
    return v;
  };
  int32_t id = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &written);
  char text[96];
  std::snprintf(text, sizeof text, "id %d tile %u stages %u splitk %u cluster %u", id,
                get(CUBLASLT_ALGO_CONFIG_TILE_ID), get(CUBLASLT_ALGO_CONFIG_STAGES_ID),
                get(CUBLASLT_ALGO_CONFIG_SPLITK_NUM), get(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID));
  return text;
}

// bf16 bits of uniform values in [-1, 1), or of the constant 0x3c3c (~0.011).
std::vector<uint16_t> fill_values(size_t count, bool random) {
  return random ? bench::random_bf16(count, 1234) : std::vector<uint16_t>(count, 0x3c3c);
}

// Fills `bytes` of device memory from a pattern of values (repeated).
void fill_device(void* dst, size_t bytes, const std::vector<uint16_t>& pattern, cudaStream_t s) {
  const size_t chunk = pattern.size() * sizeof(uint16_t);
  for (size_t off = 0; off < bytes; off += chunk)
    check(cudaMemcpyAsync(static_cast<char*>(dst) + off, pattern.data(), std::min(chunk, bytes - off),
                          cudaMemcpyHostToDevice, s),
          "fill");
  check(cudaStreamSynchronize(s), "fill");
}

// The --sustain mode: a layer's four projections at m rows with the heuristic's rank-`rank` algorithm each,
// replayed as one graph for `seconds` (after a pre-heat of as long): TFLOP/s over the timed period and the
// device's power over it; TFLOP/s < 0 where the heuristic has no such rank.
struct SustainedRate {
  double tflops = -1;
  std::string power;
};
SustainedRate sustained_tflops(cublasLtHandle_t lt, cudaStream_t s, void* workspace, size_t workspace_bytes,
                               const std::vector<void*>& w, const std::vector<size_t>& w_offsets, void* x,
                               void* d, int64_t m, int rank, double seconds) {
  struct Gemm {
    Problem p;
    cublasLtMatmulAlgo_t algo;
  };
  std::vector<Gemm> gemms(std::size(kShapes));
  double flops = 0;
  for (size_t i = 0; i < gemms.size(); ++i) {
    make_problem(gemms[i].p, m, kShapes[i].n, kShapes[i].k, CUDA_R_32F);
    cublasLtMatmulPreference_t pref;
    check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
    check_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &workspace_bytes, sizeof workspace_bytes),
             "workspace preference");
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(rank + 1));
    int found = 0;
    check_lt(cublasLtMatmulAlgoGetHeuristic(lt, gemms[i].p.desc, gemms[i].p.a, gemms[i].p.b, gemms[i].p.d,
                                            gemms[i].p.d, pref, rank + 1, results.data(), &found),
             "heuristic");
    cublasLtMatmulPreferenceDestroy(pref);
    if (found <= rank) return {};
    gemms[i].algo = results[static_cast<size_t>(rank)].algo;
    flops +=
        2.0 * static_cast<double>(m) * static_cast<double>(kShapes[i].n) * static_cast<double>(kShapes[i].k);
  }
  // One layer per weight copy set: each call reads its weights from HBM, as a model's layers do.
  const int layers = static_cast<int>(w.size());
  bool failed = false;
  const RecordedCalls recorded(s, layers, [&](int layer) {
    for (size_t i = 0; i < gemms.size(); ++i) {
      const float alpha = 1.0f, beta = 0.0f;
      const void* wi = static_cast<const char*>(w[static_cast<size_t>(layer)]) + w_offsets[i];
      failed |= cublasLtMatmul(lt, gemms[i].p.desc, &alpha, wi, gemms[i].p.a, x, gemms[i].p.b, &beta, d,
                               gemms[i].p.d, d, gemms[i].p.d, &gemms[i].algo, workspace, workspace_bytes,
                               s) != CUBLAS_STATUS_SUCCESS;
    }
  });
  if (failed) return {};
  const Sustained run = sustain(s, recorded, layers, seconds);
  return {flops / run.sec_per_call / 1e12, run.power};
}

// Frees weight copies and the x and d buffers.
void free_buffers(const std::vector<void*>& w, void* x, void* d) {
  for (void* p : w)
    cudaFree(p);
  cudaFree(x);
  cudaFree(d);
}

// The --sustain mode over every m and rank.
void run_sustained(cublasLtHandle_t lt, cudaStream_t s, void* workspace, size_t workspace_bytes,
                   const std::vector<int64_t>& ms, const std::vector<int64_t>& ranks, int64_t max_m,
                   const std::vector<uint16_t>& pattern, double sustain_s) {
  // Layers of the four weights, enough copies that the replays stream >= 1 GB of weights.
  std::vector<size_t> offsets;
  size_t layer_bytes = 0;
  for (const Shape2& shape : kShapes) {
    offsets.push_back(layer_bytes);
    layer_bytes += static_cast<size_t>(shape.n * shape.k) * 2;
  }
  std::vector<void*> w(static_cast<size_t>((size_t{1} << 30) / layer_bytes + 1));
  for (auto& p : w) {
    check(cudaMalloc(&p, layer_bytes), "w");
    fill_device(p, layer_bytes, pattern, s);
  }
  void *x = nullptr, *d = nullptr;
  check(cudaMalloc(&x, static_cast<size_t>(max_m * 14336) * 2), "x");
  fill_device(x, static_cast<size_t>(max_m * 14336) * 2, pattern, s);
  check(cudaMalloc(&d, static_cast<size_t>(max_m * 28672) * 4), "d");
  std::printf("%5s %5s %10s   (a layer's qkv, o, gate_up, down; f32 out; %.0f s after %.0f s of pre-heat)\n",
              "m", "rank", "TFLOP/s", sustain_s, sustain_s);
  for (const int64_t m : ms) {
    for (const int64_t rank : ranks) {
      const SustainedRate rate = sustained_tflops(lt, s, workspace, workspace_bytes, w, offsets, x, d, m,
                                                  static_cast<int>(rank), sustain_s);
      std::printf("%5lld %5lld %10.0f   %s\n", static_cast<long long>(m), static_cast<long long>(rank),
                  rate.tflops, rate.power.c_str());
      std::fflush(stdout);
    }
  }
  free_buffers(w, x, d);
}

// The table: each shape, m and output type, the heuristic's first algorithm against the best of max_algos.
void run_table(cublasLtHandle_t lt, cudaStream_t s, void* workspace, size_t workspace_bytes,
               const std::vector<int64_t>& ms, int64_t max_m, const std::vector<uint16_t>& pattern,
               int max_algos, int reps) {
  std::printf("%-8s %6s %6s %5s %4s %10s %8s %10s %8s  %s\n", "weight", "n", "k", "m", "out", "first us",
              "TFLOP/s", "best us", "TFLOP/s", "best algorithm (rank)");
  for (const Shape2& shape : kShapes) {
    const int64_t n = shape.n, k = shape.k;
    const size_t w_bytes = static_cast<size_t>(n * k) * 2;
    const int copies = static_cast<int>(std::max<size_t>(1, (size_t{256} << 20) / w_bytes + 1));
    std::vector<void*> w(copies);
    for (auto& p : w) {
      check(cudaMalloc(&p, w_bytes), "w");
      fill_device(p, w_bytes, pattern, s);
    }
    void *x = nullptr, *d = nullptr;
    check(cudaMalloc(&x, static_cast<size_t>(max_m * k) * 2), "x");
    fill_device(x, static_cast<size_t>(max_m * k) * 2, pattern, s);
    check(cudaMalloc(&d, static_cast<size_t>(max_m * n) * 4), "d");
    for (const int64_t m : ms) {
      for (const cudaDataType out_type : {CUDA_R_32F, CUDA_R_16BF}) {
        Problem p;
        make_problem(p, m, n, k, out_type);
        cublasLtMatmulPreference_t pref;
        check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
        check_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes, sizeof workspace_bytes),
                 "workspace preference");
        std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(max_algos));
        int found = 0;
        check_lt(cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.a, p.b, p.d, p.d, pref, max_algos,
                                                results.data(), &found),
                 "heuristic");
        cublasLtMatmulPreferenceDestroy(pref);
        const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
        double first = 0, best = 1e30;
        int best_rank = -1;
        for (int r = 0; r < found; ++r) {
          const cublasLtMatmulAlgo_t& algo = results[static_cast<size_t>(r)].algo;
          bool failed = false;
          const float alpha = 1.0f, beta = 0.0f;
          const double sec = time_calls(s, 2, reps, [&](int i) {
            failed |=
                cublasLtMatmul(lt, p.desc, &alpha, w[static_cast<size_t>(i % copies)], p.a, x, p.b, &beta, d,
                               p.d, d, p.d, &algo, workspace, workspace_bytes, s) != CUBLAS_STATUS_SUCCESS;
          });
          if (failed) continue;
          if (r == 0) first = sec;
          if (sec < best) {
            best = sec;
            best_rank = r;
          }
        }
        if (best_rank < 0) {
          std::printf("%-8s %6lld %6lld %5lld %4s  no algorithm\n", shape.name, static_cast<long long>(n),
                      static_cast<long long>(k), static_cast<long long>(m),
                      out_type == CUDA_R_32F ? "f32" : "bf16");
          continue;
        }
        std::printf("%-8s %6lld %6lld %5lld %4s %10.1f %8.0f %10.1f %8.0f  %s (%d of %d)\n", shape.name,
                    static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m),
                    out_type == CUDA_R_32F ? "f32" : "bf16", first * 1e6,
                    first > 0 ? flops / first / 1e12 : 0.0, best * 1e6, flops / best / 1e12,
                    describe(results[static_cast<size_t>(best_rank)].algo).c_str(), best_rank, found);
      }
    }
    free_buffers(w, x, d);
  }
}

int run(int argc, char** argv) {
  std::vector<int64_t> ms = {128, 256, 512, 1024, 2048};
  std::vector<int64_t> ranks = {0};
  int max_algos = 16, reps = 10;
  bool random = true;
  double sustain_s = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--m") ms = parse_list(argv[i + 1]);
    if (flag == "--algos") max_algos = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--fill") random = std::string(argv[i + 1]) != "constant";
    if (flag == "--sustain") sustain_s = std::atof(argv[i + 1]);
    if (flag == "--ranks") ranks = parse_list(argv[i + 1]);
  }
  cudaStream_t s;
  check(cudaStreamCreate(&s), "stream");
  cublasLtHandle_t lt;
  check_lt(cublasLtCreate(&lt), "cublasLt");
  const size_t workspace_bytes = size_t{32} << 20;
  void* workspace = nullptr;
  check(cudaMalloc(&workspace, workspace_bytes), "workspace");
  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  const std::vector<uint16_t> pattern = fill_values(size_t{1} << 22, random);
  std::printf("data: %s\n", random ? "uniform in [-1, 1)" : "constant");

  if (sustain_s > 0) {
    run_sustained(lt, s, workspace, workspace_bytes, ms, ranks, max_m, pattern, sustain_s);
  } else {
    run_table(lt, s, workspace, workspace_bytes, ms, max_m, pattern, max_algos, reps);
  }
  cudaFree(workspace);
  cublasLtDestroy(lt);
  return 0;
}

}  // namespace
}  // namespace autoglm

int main(int argc, char** argv) {
  return autoglm::run(argc, argv);
}

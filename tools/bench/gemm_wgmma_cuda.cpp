// Our Hopper GEMM (kernels/gemm_wgmma.h) against cuBLASLt as the matmul op runs it (algorithms timed per
// row-count bucket), on the Llama-3-8B projection shapes, random bf16 operands in [-1, 1):
// - per shape and m: us per call and TFLOP/s of each (f32 out), and the largest difference between the two
//   relative to the largest |value| (both accumulate in f32, in other orders);
// - gate/up per m with bf16 outputs: cuBLASLt's, ours, and ours writing silu(gate) * up;
// - the MLP per m: cuBLASLt gate/up (bf16 out) then the down projection that forms silu(gate) * up while
//   converting its input (matmul_swiglu), against our gate/up writing silu(gate) * up itself then the down
//   projection on that bf16 input;
// - with --sustain S: a layer's four projections (f32 out) back to back for S seconds after as long a
//   pre-heat, each way, with the power and SM clock over it: the rate at the power limit; then the MLP each
//   way likewise (under the limit, the pass the fusion removes is joules the GEMMs get back).
//
// - with --tilings 1: gate/up (f32 out, then writing silu(gate) * up) in each token tile, with the last round
//   in halves of the tile where it fills at most half the device and whole, against the launch's choice and
//   cuBLASLt's gate/up, per m.
//
//   bench_gemm_wgmma_cuda [--m 256,333,512,768,1024,2048,8192] [--reps 10] [--sustain SECONDS] [--tilings 1]
//
// Weights rotate over copies totalling >= 256 MB so that no call finds its w in L2.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/gemm_wgmma.h"
#include "backend/cuda/kernels/matmul_cublaslt.h"
#include "cuda_timing.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using bench::check;
using bench::parse_list;
using bench::random_bf16;
using bench::RecordedCalls;
using bench::sustain;
using bench::time_calls;
using cuda_kernels::GemmEpilogue;
using cuda_kernels::GemmWgmmaArgs;

struct Shape2 {
  const char* name;
  int64_t n, k;
};

constexpr Shape2 kQkv{"qkv", 6144, 4096}, kO{"o", 4096, 4096}, kGateUp{"gate_up", 28672, 4096},
    kDown{"down", 4096, 14336};
constexpr Shape2 kShapes[] = {kQkv, kO, kGateUp, kDown};

// Device copies of one random [n, k] bf16 weight, enough of them to exceed L2 many times over.
struct Weights {
  std::vector<__nv_bfloat16*> copies;
  Weights(int64_t n, int64_t k, uint32_t seed) {
    const size_t bytes = static_cast<size_t>(n * k) * 2;
    const std::vector<uint16_t> host = random_bf16(static_cast<size_t>(n * k), seed);
    const size_t count = std::max<size_t>(2, (size_t{256} << 20) / bytes + 1);
    for (size_t i = 0; i < count; ++i) {
      void* p = nullptr;
      check(cudaMalloc(&p, bytes), "malloc w");
      check(cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice), "copy w");
      copies.push_back(static_cast<__nv_bfloat16*>(p));
    }
  }
  ~Weights() {
    for (auto* p : copies)
      cudaFree(p);
  }
  const __nv_bfloat16* at(int i) const { return copies[static_cast<size_t>(i) % copies.size()]; }
};

void* device_bytes(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "malloc");
  check(cudaMemset(p, 0, bytes), "memset");
  return p;
}

struct Gemm {
  const Weights* w;
  int64_t n, k;
};

void cublaslt(CudaBackend& cuda, const Gemm& g, int i, const void* x, void* out, int64_t m, DType out_dtype) {
  if (!run_cublaslt(cuda, DType::kBF16, g.w->at(i), x, nullptr, out, out_dtype, m, g.n, g.k)) {
    std::fprintf(stderr, "cuBLASLt failed\n");
    std::exit(1);
  }
}

void own(CudaBackend& cuda, const Gemm& g, int i, const void* x, void* out, int64_t m, GemmEpilogue e,
         int token_tile = 0, bool split = true) {
  GemmWgmmaArgs a;
  a.token_tile = token_tile;
  a.split_last_round = split;
  a.x = static_cast<const __nv_bfloat16*>(x);
  a.w = g.w->at(i);
  a.out = out;
  a.m = m;
  a.n = g.n;
  a.k = g.k;
  a.ldo = e == GemmEpilogue::kSwiglu ? g.n / 2 : g.n;
  a.epilogue = e;
  check(cuda_kernels::launch_gemm_wgmma(a, cuda.stream()), "gemm_wgmma");
}

double max_relative_difference(const float* a_dev, const float* b_dev, size_t count) {
  std::vector<float> a(count), b(count);
  check(cudaMemcpy(a.data(), a_dev, count * 4, cudaMemcpyDeviceToHost), "copy back");
  check(cudaMemcpy(b.data(), b_dev, count * 4, cudaMemcpyDeviceToHost), "copy back");
  double diff = 0, scale = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

int run(int argc, char** argv) {
  std::vector<int64_t> ms = {256, 333, 512, 768, 1024, 2048, 8192};
  int reps = 10;
  double seconds = 0;
  bool tilings = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--m") ms = parse_list(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
    if (flag == "--sustain") seconds = std::atof(argv[i + 1]);
    if (flag == "--tilings") tilings = std::atoi(argv[i + 1]) != 0;
  }
  BackendOptions options;
  options.tune_gemms = true;
  auto created = create_backend("cuda", options);
  check(created.status(), "cuda backend");
  std::unique_ptr<Backend> owned = std::move(created).value();
  CudaBackend& cuda = cuda_backend(*owned);
  cudaStream_t s = cuda.stream();
  int device = 0;
  check(cudaGetDevice(&device), "device");

  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  const int64_t max_k = 14336, max_n = 28672;
  const std::vector<uint16_t> x_host = random_bf16(static_cast<size_t>(max_m * max_k), 7);
  void* x = device_bytes(x_host.size() * 2);
  check(cudaMemcpy(x, x_host.data(), x_host.size() * 2, cudaMemcpyHostToDevice), "copy x");
  float* out_a = static_cast<float*>(device_bytes(static_cast<size_t>(max_m * max_n) * 4));
  float* out_b = static_cast<float*>(device_bytes(static_cast<size_t>(max_m * max_n) * 4));
  void* act = device_bytes(static_cast<size_t>(max_m * max_n) * 2);

  std::vector<Weights> weights;
  weights.reserve(4);
  uint32_t seed = 11;
  for (const Shape2& shape : kShapes)
    weights.emplace_back(shape.n, shape.k, seed++);
  auto gemm = [&](int index) { return Gemm{&weights[index], kShapes[index].n, kShapes[index].k}; };

  std::printf(
      "GEMM, f32 out: us per call (TFLOP/s)\n| weight | m | cuBLASLt | ours | ours / cuBLASLt | max rel diff "
      "|\n|---|---|---|---|---|---|\n");
  for (int index = 0; index < 4; ++index) {
    const Gemm g = gemm(index);
    for (const int64_t m : ms) {
      GemmWgmmaArgs probe;
      probe.x = static_cast<const __nv_bfloat16*>(x);
      probe.w = g.w->at(0);
      probe.out = out_b;
      probe.m = m, probe.n = g.n, probe.k = g.k, probe.ldo = g.n;
      if (!cuda_kernels::gemm_wgmma_supported(device, probe)) {
        std::printf("| %s | %lld | unsupported here |\n", kShapes[index].name, static_cast<long long>(m));
        continue;
      }
      const double flops = 2.0 * static_cast<double>(m * g.n * g.k);
      const double t_lt =
          time_calls(s, 1, reps, [&](int i) { cublaslt(cuda, g, i, x, out_a, m, DType::kF32); });
      const double t_own =
          time_calls(s, 1, reps, [&](int i) { own(cuda, g, i, x, out_b, m, GemmEpilogue::kF32); });
      cublaslt(cuda, g, 0, x, out_a, m, DType::kF32);
      own(cuda, g, 0, x, out_b, m, GemmEpilogue::kF32);
      check(cudaStreamSynchronize(s), "sync");
      const double diff = max_relative_difference(out_b, out_a, static_cast<size_t>(m * g.n));
      std::printf("| %s | %lld | %.1f (%.0f) | %.1f (%.0f) | %.3f | %.2e |\n", kShapes[index].name,
                  static_cast<long long>(m), t_lt * 1e6, flops / t_lt * 1e-12, t_own * 1e6,
                  flops / t_own * 1e-12, t_lt / t_own, diff);
    }
  }

  // The gate/up projection alone, by output: cuBLASLt's bf16 epilogue against ours, bf16 and silu(gate) * up.
  std::printf(
      "\ngate/up by output, us per call\n| m | cuBLASLt bf16 | ours bf16 | ours silu(gate) * up "
      "|\n|---|---|---|---|\n");
  for (const int64_t m : ms) {
    const Gemm g = gemm(2);
    const double t_lt = time_calls(s, 1, reps, [&](int i) { cublaslt(cuda, g, i, x, act, m, DType::kBF16); });
    const double t_bf16 =
        time_calls(s, 1, reps, [&](int i) { own(cuda, g, i, x, act, m, GemmEpilogue::kBf16); });
    const double t_swiglu =
        time_calls(s, 1, reps, [&](int i) { own(cuda, g, i, x, act, m, GemmEpilogue::kSwiglu); });
    std::printf("| %lld | %.1f | %.1f | %.1f |\n", static_cast<long long>(m), t_lt * 1e6, t_bf16 * 1e6,
                t_swiglu * 1e6);
  }

  // The MLP: gate/up then down, each way (the down projection's f32 output into out_a).
  std::printf(
      "\nMLP (gate/up + silu * up + down), us per call\n| m | cuBLASLt + conversion | ours fused + cuBLASLt "
      "down | ratio |\n|---|---|---|---|\n");
  const Gemm gate_up = gemm(2), down = gemm(3);
  auto tensor = [&](void* p, DType dt, int64_t rows, int64_t cols) {
    return TensorView{p, dt, Shape{rows, cols}, Device{DeviceKind::kCuda, device}};
  };
  // The down projection's operands, either op's: x = act ([m, columns] bf16), weight copy i, out_a (f32).
  auto down_operands = [&](auto& a, int i, int64_t m, int64_t columns) {
    a.x = tensor(act, DType::kBF16, m, columns);
    a.w = tensor(const_cast<__nv_bfloat16*>(down.w->at(i)), DType::kBF16, down.n, down.k);
    a.out = tensor(out_a, DType::kF32, m, down.n);
  };
  // The model's MLP: cuBLASLt's gate/up (bf16 out), then the down projection converting its input.
  auto mlp_cublaslt = [&](int i, int64_t m) {
    cublaslt(cuda, gate_up, i, x, act, m, DType::kBF16);
    MatmulSwigluArgs a;
    down_operands(a, i, m, gate_up.n);
    check(matmul_swiglu(cuda, a), "matmul_swiglu");
  };
  // Ours: gate/up writing silu(gate) * up, then the down projection on that bf16 input.
  auto mlp_fused = [&](int i, int64_t m) {
    own(cuda, gate_up, i, x, act, m, GemmEpilogue::kSwiglu);
    MatmulArgs a;
    down_operands(a, i, m, down.k);
    check(matmul(cuda, a), "matmul");
  };
  for (const int64_t m : ms) {
    const double t_lt = time_calls(s, 1, reps, [&](int i) { mlp_cublaslt(i, m); });
    const double t_own = time_calls(s, 1, reps, [&](int i) { mlp_fused(i, m); });
    std::printf("| %lld | %.1f | %.1f | %.3f |\n", static_cast<long long>(m), t_lt * 1e6, t_own * 1e6,
                t_lt / t_own);
  }

  if (tilings) {
    // Each tiling with the last round in halves (where it fills at most half the device) and whole; tile 0
    // is the launch's choice.
    for (const GemmEpilogue e : {GemmEpilogue::kF32, GemmEpilogue::kSwiglu}) {
      const bool f32 = e == GemmEpilogue::kF32;
      void* out = f32 ? static_cast<void*>(out_b) : act;
      std::printf(
          "\ngate/up, %s out, by tiling: us per call\n| m | cuBLASLt | choice | choice whole | 128 | 128 "
          "whole "
          "| 192 | 192 whole | 256 | 256 whole |\n|---|---|---|---|---|---|---|---|---|---|\n",
          f32 ? "f32" : "silu(gate) * up");
      for (const int64_t m : ms) {
        const Gemm g = gemm(2);
        const double t_lt = time_calls(
            s, 1, reps, [&](int i) { cublaslt(cuda, g, i, x, out, m, f32 ? DType::kF32 : DType::kBF16); });
        std::printf("| %lld | %.1f", static_cast<long long>(m), t_lt * 1e6);
        for (const int tile : {0, 128, 192, 256}) {
          for (const bool split : {true, false}) {
            const double t =
                time_calls(s, 1, reps, [&](int i) { own(cuda, g, i, x, out, m, e, tile, split); });
            std::printf(" | %.1f", t * 1e6);
          }
        }
        std::printf(" |\n");
      }
    }
  }

  if (seconds > 0) {
    std::printf(
        "\nSustained: a layer's four projections (f32 out) for %.0f s after as long a pre-heat\n| m | way | "
        "TFLOP/s | power |\n|---|---|---|---|\n",
        seconds);
    for (const int64_t m : ms) {
      double flops = 0;
      for (const Shape2& shape : kShapes)
        flops += 2.0 * static_cast<double>(m * shape.n * shape.k);
      for (const bool ours : {false, true}) {
        const RecordedCalls recorded(s, reps, [&](int i) {
          for (int index = 0; index < 4; ++index) {
            if (ours)
              own(cuda, gemm(index), i, x, out_b, m, GemmEpilogue::kF32);
            else
              cublaslt(cuda, gemm(index), i, x, out_a, m, DType::kF32);
          }
        });
        const bench::Sustained r = sustain(s, recorded, reps, seconds);
        std::printf("| %lld | %s | %.0f | %s |\n", static_cast<long long>(m), ours ? "ours" : "cuBLASLt",
                    flops / r.sec_per_call * 1e-12, r.power.c_str());
      }
    }
    std::printf(
        "\nSustained: the MLP (gate/up, silu(gate) * up, down) for %.0f s after as long a pre-heat\n| m | "
        "way | "
        "us per call | power |\n|---|---|---|---|\n",
        seconds);
    for (const int64_t m : ms) {
      for (const bool fused : {false, true}) {
        const RecordedCalls recorded(s, reps, [&](int i) { fused ? mlp_fused(i, m) : mlp_cublaslt(i, m); });
        const bench::Sustained r = sustain(s, recorded, reps, seconds);
        std::printf("| %lld | %s | %.1f | %s |\n", static_cast<long long>(m),
                    fused ? "ours fused" : "cuBLASLt + conversion", r.sec_per_call * 1e6, r.power.c_str());
      }
    }
  }
  cudaFree(x);
  cudaFree(out_a);
  cudaFree(out_b);
  cudaFree(act);
  return 0;
}

}  // namespace
}  // namespace autoglm

int main(int argc, char** argv) {
  return autoglm::run(argc, argv);
}

// The CUDA matmul paths on the Llama-3-8B projection shapes at decode batch sizes: time per call, achieved
// weight-read bandwidth and its ratio to a measured copy bandwidth, for the GEMV (x in groups of 8 rows),
// the skinny tensor-core GEMM (x f32 or already 16-bit), and the matmul op as dispatched (which path it
// takes depends on m). Each variant's output is checked against a float64 CPU product on sampled elements.
//
//   bench_matmul_cuda [--m 1,8,16,32,64] [--reps 20]
//
// Timing: each measurement is a CUDA graph of `reps` calls that rotate over enough copies of the weight
// (>= 256 MB) that no call finds its weight in the 50 MB L2, replayed 5 times; the median replay / reps.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/matmul_gemv.h"
#include "backend/cuda/kernels/matmul_skinny.h"
#include "core/half.h"
#include "cuda_timing.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

using bench::check;
using bench::copy_bandwidth;
using bench::parse_list;
using bench::time_calls;

struct Shape2 {
  const char* name;
  int64_t n, k;
};

constexpr Shape2 kShapes[] = {
    {"qkv", 6144, 4096},      {"k or v", 1024, 4096}, {"o", 4096, 4096},
    {"gate_up", 28672, 4096}, {"down", 4096, 14336},  {"lm_head", 128256, 4096},
};

int run(int argc, char** argv) {
  std::vector<int64_t> ms = {1, 8, 16, 32, 64};
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--m") ms = parse_list(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
  }
  auto created = create_backend("cuda", {});
  check(created.status(), "cuda backend");
  std::unique_ptr<Backend> owned = std::move(created).value();
  CudaBackend& cuda = cuda_backend(*owned);
  cudaStream_t s = cuda.stream();
  const double bandwidth = copy_bandwidth(s);
  std::printf("copy bandwidth (read + write): %.0f GB/s\n", bandwidth / 1e9);
  std::printf("%-8s %6s %6s %4s  %-12s %9s %8s %6s %9s\n", "weight", "n", "k", "m", "path", "us/call", "GB/s",
              "ratio", "max err");
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  for (const Shape2& shape : kShapes) {
    const int64_t n = shape.n, k = shape.k;
    const size_t w_bytes = static_cast<size_t>(n * k) * 2;
    const int copies = static_cast<int>(std::max<size_t>(1, (size_t{256} << 20) / w_bytes + 1));
    std::vector<uint16_t> w_host(static_cast<size_t>(n * k));
    for (auto& v : w_host)
      v = f32_to_bf16(normal(rng) * 0.02f);
    std::vector<Tensor> w(copies);
    for (auto& t : w) {
      auto a = cuda.allocate(DType::kBF16, Shape{n, k});
      check(a.status(), "allocate w");
      t = std::move(a).value();
      check(cuda.copy(t.view(), TensorView{w_host.data(), DType::kBF16, Shape{n, k}, Device{}}), "upload w");
    }
    std::vector<float> x_host(static_cast<size_t>(max_m * k));
    for (auto& v : x_host)
      v = normal(rng);
    std::vector<uint16_t> x16_host(x_host.size());
    for (size_t i = 0; i < x_host.size(); ++i)
      x16_host[i] = f32_to_bf16(x_host[i]);
    Tensor x = std::move(cuda.allocate(DType::kF32, Shape{max_m, k})).value();
    Tensor x16 = std::move(cuda.allocate(DType::kBF16, Shape{max_m, k})).value();
    Tensor out = std::move(cuda.allocate(DType::kF32, Shape{max_m, n})).value();
    check(cuda.copy(x.view(), TensorView{x_host.data(), DType::kF32, Shape{max_m, k}, Device{}}), "upload x");
    check(cuda.copy(x16.view(), TensorView{x16_host.data(), DType::kBF16, Shape{max_m, k}, Device{}}),
          "upload x16");
    for (const int64_t m : ms) {
      struct Variant {
        const char* name;
        std::function<void(int)> call;
        bool rounded_x;  // the product of x rounded to bf16 (else of f32 x)
      };
      std::vector<Variant> variants;
      variants.push_back({"gemv",
                          [&](int i) {
                            for (int64_t r0 = 0; r0 < m; r0 += kGemvMaxRows)
                              launch_gemv(cuda, DType::kBF16, x.as<float>() + r0 * k, w[i % copies].data(),
                                          nullptr, out.as<float>() + r0 * n, std::min(kGemvMaxRows, m - r0),
                                          n, k);
                          },
                          false});
      if (m <= kSkinnyMaxRows)
        variants.push_back({"skinny f32x",
                            [&](int i) {
                              launch_skinny(cuda, DType::kBF16, x.data(), true, w[i % copies].data(), nullptr,
                                            out.as<float>(), m, n, k);
                            },
                            true});
      if (m <= kSkinnyMaxRows)
        variants.push_back({"skinny 16x",
                            [&](int i) {
                              launch_skinny(cuda, DType::kBF16, x16.data(), false, w[i % copies].data(),
                                            nullptr, out.as<float>(), m, n, k);
                            },
                            true});
      variants.push_back({"op",
                          [&](int i) {
                            const MatmulArgs a{x.view().rows(0, m), w[i % copies].view(), TensorView{},
                                               out.view().rows(0, m)};
                            check(matmul(cuda, a), "matmul op");
                          },
                          m > 1});
      for (const Variant& v : variants) {
        const double sec = time_calls(s, 1, reps, v.call);
        // Check the last output (weight copy (reps - 1) % copies holds the same values as every copy).
        check(cudaMemsetAsync(out.data(), 0xff, static_cast<size_t>(m * n) * 4, s), "poison");
        v.call(0);
        std::vector<float> got(static_cast<size_t>(m * n));
        check(cuda.copy(TensorView{got.data(), DType::kF32, Shape{m, n}, Device{}}, out.view().rows(0, m)),
              "download");
        double err = 0, scale = 0;
        std::mt19937 pick(11);
        for (int sample = 0; sample < 512; ++sample) {
          const int64_t i = static_cast<int64_t>(pick() % static_cast<uint32_t>(m));
          const int64_t j = static_cast<int64_t>(pick() % static_cast<uint32_t>(n));
          double ref = 0;
          for (int64_t e = 0; e < k; ++e) {
            const double xv = v.rounded_x ? bf16_to_f32(x16_host[static_cast<size_t>(i * k + e)])
                                          : x_host[static_cast<size_t>(i * k + e)];
            ref += xv * bf16_to_f32(w_host[static_cast<size_t>(j * k + e)]);
          }
          const double d = got[static_cast<size_t>(i * n + j)];
          err = std::max(err, std::isfinite(d) ? std::fabs(d - ref) : INFINITY);
          scale = std::max(scale, std::fabs(ref));
        }
        const double gbs = static_cast<double>(w_bytes) / sec / 1e9;
        std::printf("%-8s %6lld %6lld %4lld  %-12s %9.1f %8.0f %6.2f %9.2e\n", shape.name,
                    static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m), v.name,
                    sec * 1e6, gbs, gbs * 1e9 / bandwidth, err / scale);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace autoglm

int main(int argc, char** argv) {
  return autoglm::run(argc, argv);
}

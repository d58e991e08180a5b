// bench_matvec_cpu [THREADS] [N] [K] [DTYPE...]: the CPU decode GEMV (ops/matmul.h at m = 1) on random
// weights of each dtype (default bf16 q8_0 q4_k q4_k_x8, N = 4096, K = 4096, 2 threads), in two regimes:
// - stream: enough weight copies to span 512 MB, taken in turn, so every call reads its weights from DRAM
//   (the decode case); reported as GB/s of weight bytes and as a fraction of the host's read bandwidth,
//   measured by the same probe as `autoglm bench` right before each dtype (the bandwidth drifts);
// - hot: one thread on 256 rows that stay in its L2 cache (the kernel's own rate, with no memory stall).
// A dtype whose stream fraction trails bf16's is limited by its kernel where the hot rate is low.
// Prints one JSON line per dtype.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/memory_bandwidth.h"
#include "ops/matmul.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_repack.h"

namespace {

using autoglm::DType;

struct Weights {
  std::vector<autoglm::Tensor> copies;
  int64_t bytes_each = 0;
};

// `count` [n, k] matrices of dtype holding the same random N(0, 0.02) values, rounded or quantized (q4_k_x8:
// quantized to Q4_K, then repacked as the CPU backend's model loading does).
Weights make_weights(autoglm::Backend& cpu, DType dtype, int64_t n, int64_t k, int count) {
  if (dtype == DType::kQ4_Kx8) {
    Weights w = make_weights(cpu, DType::kQ4_K, n, k, count);
    for (auto& t : w.copies) {
      auto interleaved = autoglm::interleaved_q4_k(t);
      if (!interleaved) return {};
      t = std::move(*interleaved);
    }
    return w;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> row(static_cast<size_t>(k));
  Weights w;
  w.bytes_each = static_cast<int64_t>(autoglm::dtype_bytes(dtype, n * k));
  for (int c = 0; c < count; ++c) {
    auto t = cpu.allocate(dtype, autoglm::Shape{n, k});
    if (!t) return {};
    auto* base = static_cast<uint8_t*>(t->data());
    const auto row_bytes = static_cast<int64_t>(autoglm::dtype_bytes(dtype, k));
    for (int64_t j = 0; j < n; ++j) {
      if (c == 0 || j == 0) {
        for (auto& v : row)
          v = normal(rng);
      }
      if (!autoglm::quantize_row(dtype, row.data(), base + j * row_bytes, k).ok()) return {};
    }
    w.copies.push_back(std::move(*t));
  }
  return w;
}

// Seconds per call: the best of 5 rounds of `calls` calls, weights taken in turn.
double time_calls(autoglm::Backend& cpu, const Weights& w, const autoglm::TensorView& x,
                  const autoglm::TensorView& out, int calls) {
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) {
      autoglm::MatmulArgs args{x, w.copies[static_cast<size_t>(c) % w.copies.size()].view(), {}, out};
      if (!autoglm::matmul(cpu, args).ok()) return -1.0;
    }
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 4096;
  const int64_t k = argc > 3 ? std::atoll(argv[3]) : 4096;
  std::vector<std::string> dtypes(argv + std::min(argc, 4), argv + argc);
  if (dtypes.empty()) dtypes = {"bf16", "q8_0", "q4_k", "q4_k_x8"};
  if (threads < 1 || n < 256 || k < 256 || k % 256 != 0) {
    std::fprintf(stderr, "usage: bench_matvec_cpu [THREADS] [N >= 256] [K, a multiple of 256] [DTYPE...]\n");
    return 2;
  }
  autoglm::CpuBackend streaming(autoglm::BackendOptions{threads});
  autoglm::CpuBackend single(autoglm::BackendOptions{1});
  autoglm::cli::BandwidthProbe probe(size_t{1} << 30, threads);
  if (!probe.ok()) return 1;

  std::vector<float> x_data(static_cast<size_t>(k), 0.5f);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : x_data)
    v = normal(rng);
  std::vector<float> out_data(static_cast<size_t>(n));
  const autoglm::TensorView x{x_data.data(), DType::kF32, autoglm::Shape{1, k}, autoglm::Device{}};
  const autoglm::TensorView out{out_data.data(), DType::kF32, autoglm::Shape{1, n}, autoglm::Device{}};
  const autoglm::TensorView hot_out{out_data.data(), DType::kF32, autoglm::Shape{1, 256}, autoglm::Device{}};

  for (const std::string& name : dtypes) {
    const auto dtype = name == "q4_k_x8" ? std::optional<DType>(DType::kQ4_Kx8) : autoglm::parse_dtype(name);
    if (!dtype) {
      std::fprintf(stderr, "unknown dtype %s\n", name.c_str());
      return 2;
    }
    const int64_t bytes = static_cast<int64_t>(autoglm::dtype_bytes(*dtype, n * k));
    const int copies = static_cast<int>(std::max<int64_t>(2, ((int64_t{512} << 20) + bytes - 1) / bytes));
    const Weights stream = make_weights(streaming, *dtype, n, k, copies);
    const Weights hot = make_weights(single, *dtype, 256, k, 1);
    if (stream.copies.empty() || hot.copies.empty()) {
      std::fprintf(stderr, "cannot build %s weights\n", name.c_str());
      return 1;
    }
    const double bandwidth = probe.measure();
    const double stream_s = time_calls(streaming, stream, x, out, copies * 4);
    const double hot_s = time_calls(single, hot, x, hot_out, 2000);
    if (stream_s < 0 || hot_s < 0) {
      std::fprintf(stderr, "matmul failed for %s\n", name.c_str());
      return 1;
    }
    const double stream_gbs = static_cast<double>(bytes) / stream_s / 1e9;
    std::printf(
        "{\"dtype\": \"%s\", \"threads\": %d, \"n\": %lld, \"k\": %lld, \"weight_mb\": %.2f, \"stream_us\": "
        "%.1f, "
        "\"stream_gb_s\": %.2f, \"probe_gb_s\": %.2f, \"of_probe\": %.3f, \"hot_gb_s_one_thread\": %.2f}\n",
        name.c_str(), threads, static_cast<long long>(n), static_cast<long long>(k), bytes / 1e6,
        stream_s * 1e6, stream_gbs, bandwidth / 1e9, stream_gbs * 1e9 / bandwidth,
        static_cast<double>(hot.bytes_each) / hot_s / 1e9);
  }
  return 0;
}

// CPU matmul: out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]); x, out, bias f32; w f32, f16 or bf16 (with
// AVX512_BF16, bf16 w multiplies x rounded to bf16).
//
// Layout: everything row-major and contiguous; w keeps PyTorch's [out, in] layout, so each output is the dot
// product of two contiguous k-vectors and nothing needs packing or transposing.
// Work split: w's n rows are cut into blocks of kBlockN rows; a task is one block times one chunk of x rows,
// ordered block-major, and each thread takes one contiguous run of tasks (ThreadPool::parallel_for), so for
// decode each thread streams one contiguous slab of w. x rows are chunked only when n has too few blocks to
// keep every thread busy.
// m <= tile_m (decode, small batches): w rows are read once each, in address order, widened in registers;
// every row serves all m x rows. One sequential stream per thread is what the prefetchers follow best
// (interleaving four row streams lost ~40% of the bandwidth on Zen 4).
// m > tile_m (prefill): a block of w rows is copied or widened to f32 once (a sequential read) into a
// thread-local buffer (kBlockN * k floats, L1/L2-resident), then register tiles of tile_m x rows by 4 w rows
// (AVX-512 4x4 in zmm, AVX2 2x4 in ymm; matmul_avx512.cpp, matmul_avx2.cpp) reuse each loaded w vector for
// tile_m x rows and each x vector for 4 w rows.
// bf16 w on CPUs with AVX512_BF16 (matmul_avx512_bf16.cpp): x rounded to bf16 once, then the same streams
// and tiles on bf16 dot products (VDPBF16PS, twice the multiply-adds per instruction), w read as stored.
// Accumulation: f32, one accumulator chain per output and one fixed reduction tree (matmul_kernels.h):
// results are independent of m, of the tile and of the thread count.
// Floor: m = 1 is a GEMV bound by memory bandwidth, bytes(w) / bandwidth (a [32000, 768] bf16 weight is
// 49 MB); m > 1 is bound by 2*m*n*k FLOPs at the FMA peak.
// Reference: kernels/ref/matmul_ref.cpp (double accumulation), checked by tests/backend/test_matmul.cpp.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "ops/kernel_table.h"
#include "ops/matmul.h"

namespace autoglm {
namespace {

// w rows per task: a multiple of the 4-row register tile, small enough that a widened block
// (16 * k * 4 bytes: 48 KiB at k = 768) stays in L2 while every x row of the task passes over it.
constexpr int64_t kBlockN = 16;
// Below this many multiply-adds a parallel region costs more than it saves (~ a few microseconds of work).
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;
// Tasks per thread to aim for when n alone gives too few blocks, so an uneven split costs little.
constexpr int64_t kTasksPerThread = 4;

MatmulIsa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    return __builtin_cpu_supports("avx512bf16") ? MatmulIsa::kAvx512Bf16 : MatmulIsa::kAvx512;
  }
  if (avx2) return MatmulIsa::kAvx2;
#endif
  return MatmulIsa::kScalar;
}

// AUTOGLM_MAX_CPU_ISA (scalar, avx2, avx512, avx512bf16) caps the detected set, as oneDNN's
// ONEDNN_MAX_CPU_ISA does: to compare paths on one machine, or to match results across machines.
MatmulIsa capped_isa(MatmulIsa detected) {
  const char* cap = std::getenv("AUTOGLM_MAX_CPU_ISA");
  if (cap == nullptr) return detected;
  for (MatmulIsa isa : {MatmulIsa::kScalar, MatmulIsa::kAvx2, MatmulIsa::kAvx512, MatmulIsa::kAvx512Bf16}) {
    if (std::strcmp(cap, matmul_isa_name(isa)) == 0) return std::min(isa, detected);
  }
  return detected;
}

MatmulIsa best_isa() {
  static const MatmulIsa isa = capped_isa(detect_isa());
  return isa;
}

std::atomic<MatmulIsa>& isa_in_use() {
  static std::atomic<MatmulIsa> isa{best_isa()};
  return isa;
}

const MatmulKernels& kernels_for(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::kScalar:
      return matmul_kernels_scalar();
    case MatmulIsa::kAvx2:
      return matmul_kernels_avx2();
    case MatmulIsa::kAvx512:
      return matmul_kernels_avx512();
    case MatmulIsa::kAvx512Bf16:
      return matmul_kernels_avx512_bf16();
  }
  return matmul_kernels_scalar();
}

// Reused across calls: the pool's threads live as long as the backend, and a fresh allocation per call would
// page-fault on every prefill matmul.
float* thread_buffer(int64_t count) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

void copy_f32(const float* src, float* dst, int64_t count) {
  // k = 0 leaves the thread's buffer empty: its data() may be null, which memcpy may not take even for 0
  // bytes.
  if (count > 0) std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
}

template <typename W>
using WidenFn = void (*)(const W* src, float* dst, int64_t count);

// x rounded to bf16 for the bf16 dot-product kernels, reused across calls (as thread_buffer); the pool's
// threads read the calling thread's buffer.
uint16_t* rounded_x_buffer(int64_t count) {
  thread_local std::vector<uint16_t> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

// The prefill path on f32 register tiles: a block of w rows copied or widened to f32 once (a sequential
// read) into a thread-local buffer that the tiles of every x row of the task then read from cache.
template <typename W>
struct WidenedBlocks {
  const MatmulKernels& kernels;
  WidenFn<W> widen;
  struct State {
    explicit State(int64_t count) : widened(count > 0 ? thread_buffer(count) : nullptr) {}
    float* widened;
    int64_t block = -1;  // the block in `widened`
  };
  void operator()(State& s, int64_t block, const float* x, const W* w, const float* bias, float* out,
                  int64_t m, int64_t n, int64_t k, int64_t ldo) const {
    if (s.block != block) {  // consecutive tasks of a thread share a block when x rows are chunked
      widen(w, s.widened, n * k);
      s.block = block;
    }
    kernels.block_f32(x, s.widened, bias, out, m, n, k, ldo);
  }
};

// The prefill path on bf16 dot products: w rows read as stored.
struct Bf16DotBlocks {
  MatmulBf16DotFn tiles;
  struct State {
    explicit State(int64_t /*count*/) {}
  };
  void operator()(State& /*s*/, int64_t /*block*/, const uint16_t* x, const uint16_t* w, const float* bias,
                  float* out, int64_t m, int64_t n, int64_t k, int64_t ldo) const {
    tiles(x, w, bias, out, m, n, k, ldo);
  }
};

// stream: the decode path on w as stored; block: the prefill path on a block of w rows. x: f32, or bf16
// bits for the bf16 dot-product kernels.
template <typename X, typename W, typename Block>
void run(Backend& backend, const MatmulArgs& a, const MatmulKernels& kernels, const X* x,
         void (*stream)(const X*, const W*, const float*, float*, int64_t, int64_t, int64_t, int64_t),
         const Block& block) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  if (m == 0 || n == 0) return;
  const auto* w = a.w.as<const W>();
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  ThreadPool& pool = cpu_pool(backend);
  const bool streaming = m <= kernels.tile_m;

  const int64_t n_blocks = ceil_div(n, kBlockN);
  const int64_t row_tiles = ceil_div(m, kernels.tile_m);
  const int64_t tasks_wanted = kTasksPerThread * pool.n_threads();
  const int64_t m_chunks_wanted = n_blocks >= tasks_wanted ? 1 : ceil_div(tasks_wanted, n_blocks);
  const int64_t chunk_rows = ceil_div(row_tiles, std::min(row_tiles, m_chunks_wanted)) * kernels.tile_m;
  const int64_t m_chunks = ceil_div(m, chunk_rows);
  const int64_t n_tasks = n_blocks * m_chunks;

  auto run_tasks = [&](int64_t begin, int64_t end, int /*thread_index*/) {
    typename Block::State state(streaming ? 0 : kBlockN * k);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t nb = t / m_chunks, mc = t % m_chunks;
      const int64_t j0 = nb * kBlockN, jn = std::min(kBlockN, n - j0);
      const int64_t i0 = mc * chunk_rows, im = std::min(chunk_rows, m - i0);
      const float* bias_j = bias != nullptr ? bias + j0 : nullptr;
      float* out_ij = out + i0 * n + j0;
      if (streaming) {
        stream(x + i0 * k, w + j0 * k, bias_j, out_ij, im, jn, k, n);
        continue;
      }
      block(state, nb, x + i0 * k, w + j0 * k, bias_j, out_ij, im, jn, k, n);
    }
  };
  if (n_tasks == 1 || m * n * k < kMinParallelMacs) {
    run_tasks(0, n_tasks, 0);
  } else {
    pool.parallel_for(n_tasks, run_tasks, 1);
  }
}

void matmul_cpu_f32(Backend& backend, const MatmulArgs& args) {
  const MatmulKernels& kernels = kernels_for(matmul_isa());
  run(backend, args, kernels, args.x.as<const float>(), kernels.stream_f32,
      WidenedBlocks<float>{kernels, copy_f32});
}

void matmul_cpu_f16(Backend& backend, const MatmulArgs& args) {
  const MatmulKernels& kernels = kernels_for(matmul_isa());
  run(backend, args, kernels, args.x.as<const float>(), kernels.stream_f16,
      WidenedBlocks<uint16_t>{kernels, kernels.f16_to_f32});
}

void matmul_cpu_bf16(Backend& backend, const MatmulArgs& args) {
  const MatmulKernels& kernels = kernels_for(matmul_isa());
  if (kernels.block_bf16_dot != nullptr) {
    // x rounded to bf16 once (m * k values against m * n * k multiply-adds).
    const int64_t count = args.x.numel();
    uint16_t* x16 = rounded_x_buffer(count);
    kernels.round_to_bf16(args.x.as<const float>(), x16, count);
    run(backend, args, kernels, static_cast<const uint16_t*>(x16), kernels.stream_bf16_dot,
        Bf16DotBlocks{kernels.block_bf16_dot});
    return;
  }
  run(backend, args, kernels, args.x.as<const float>(), kernels.stream_bf16,
      WidenedBlocks<uint16_t>{kernels, kernels.bf16_to_f32});
}

const KernelRegistrar<MatmulArgs> kRegisterF32(DeviceKind::kCpu, DType::kF32, matmul_cpu_f32);
const KernelRegistrar<MatmulArgs> kRegisterF16(DeviceKind::kCpu, DType::kF16, matmul_cpu_f16);
const KernelRegistrar<MatmulArgs> kRegisterBf16(DeviceKind::kCpu, DType::kBF16, matmul_cpu_bf16);

}  // namespace

const char* matmul_isa_name(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::kScalar:
      return "scalar";
    case MatmulIsa::kAvx2:
      return "avx2";
    case MatmulIsa::kAvx512:
      return "avx512";
    case MatmulIsa::kAvx512Bf16:
      return "avx512bf16";
  }
  return "?";
}

bool matmul_isa_supported(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::kScalar:
      return true;
    case MatmulIsa::kAvx2:
      return best_isa() != MatmulIsa::kScalar;
    case MatmulIsa::kAvx512:
      return best_isa() == MatmulIsa::kAvx512 || best_isa() == MatmulIsa::kAvx512Bf16;
    case MatmulIsa::kAvx512Bf16:
      return best_isa() == MatmulIsa::kAvx512Bf16;
  }
  return false;
}

MatmulIsa matmul_isa() {
  return isa_in_use().load(std::memory_order_relaxed);
}

MatmulIsa matmul_set_isa(MatmulIsa isa) {
  if (!matmul_isa_supported(isa)) return matmul_isa();
  return isa_in_use().exchange(isa, std::memory_order_relaxed);
}

}  // namespace autoglm

// CPU matmul on GGUF block-quantized weights: out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]); x, out, bias
// f32; w Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (tensor/quant_blocks.h) or Q4_K with 8 rows interleaved (q4_k_x8,
// tensor/quant_repack.h), k a multiple of the block (the op checks).
//
// Layout: w rows are whole blocks, row j at j * dtype_bytes(w, k) (q4_k_x8: groups of 8 rows at 8 times
// that); nothing is dequantized at load. Work split as the f32 matmul (matmul.cpp): w's rows cut into blocks
// of kBlockN, each thread takes one contiguous run of them, so in decode every thread streams one contiguous
// slab of w in address order. m <= kQuantStreamMaxM (decode): x is quantized to int8 blocks once per call by
// the calling thread (O(m k), ~1.4 us at k = 4096 with AVX2), then each w row is read once and dotted with
// every x row straight from its blocks (integer dot products, quant_matmul_kernels.h); the row stays in L1
// meanwhile. m > kQuantStreamMaxM (prefill): a block of kBlockN w rows is dequantized to f32 once into a
// thread-local buffer (16 * k floats, L2-resident) and the f32 register tiles of matmul_kernels.h run over
// it, exactly as on f32 weights; the dequantization is amortized over the m x rows. Accumulation: f32 over
// exact int32 block dot products (decode), f32 FMA chains (prefill). Each output is computed by the same
// function whatever the thread count and, within each path, whatever m. Floor: decode is a GEMV bound by
// memory bandwidth, dtype_bytes(w) / bandwidth (Q4_K 4.5 bits per weight: a [2048, 4096] weight is 4.7 MB;
// Q8_0 8.5 bits); prefill is bound by 2 m n k FLOPs at the FMA peak. Reference: kernels/ref/matmul_ref.cpp on
// dequantize_row's values, checked by tests/backend/test_quant_matmul.cpp with the int8 rounding of x bounded
// per 32-block.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/matmul_kernels.h"
#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "ops/kernel_table.h"
#include "ops/matmul.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

constexpr int64_t kBlockN = 16;
static_assert(kBlockN % kQ4Kx8Rows == 0, "a task's rows are whole interleaved groups");
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;
constexpr int64_t kTasksPerThread = 4;

bool vnni_supported() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  static const bool vnni = __builtin_cpu_supports("avx512vnni");
  return vnni;
#else
  return false;
#endif
}

const MatmulKernels& f32_kernels_for(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::kScalar:
      return matmul_kernels_scalar();
    case MatmulIsa::kAvx2:
      return matmul_kernels_avx2();
    case MatmulIsa::kAvx512:
    case MatmulIsa::kAvx512Bf16:  // the same f32 kernels
      return matmul_kernels_avx512();
  }
  return matmul_kernels_scalar();
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// x rows quantized by the calling thread, reused across calls (no allocation per decode step).
struct XBuffer {
  std::vector<int8_t> q;
  std::vector<float> d, sum32, sum16;
};

XBuffer& quantize_x(const float* x, int64_t m, int64_t k) {
  thread_local XBuffer buffer;
  const auto need = static_cast<size_t>(m * k);
  if (buffer.q.size() < need) {
    buffer.q.resize(need);
    buffer.d.resize(need / 32);
    buffer.sum32.resize(need / 32);
    buffer.sum16.resize(need / 16);
  }
  for (int64_t i = 0; i < m; ++i) {
    quantize_x_row(x + i * k, k, buffer.q.data() + i * k, buffer.d.data() + i * (k / 32),
                   buffer.sum32.data() + i * (k / 32), buffer.sum16.data() + i * (k / 16));
  }
  return buffer;
}

float* thread_buffer(int64_t count) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

// Rows [j0, j0 + rows) of w as f32 into dst. Interleaved Q4_K groups are unpacked to plain Q4_K rows first
// (rows and j0 are multiples of 8 there: kBlockN is).
void widen_rows(const MatmulArgs& a, const QuantKernels& kernels, int64_t j0, int64_t rows, float* dst) {
  const int64_t k = a.w.shape[1];
  const auto row_bytes = static_cast<int64_t>(dtype_bytes(a.w.dtype, k));
  const auto* src = static_cast<const uint8_t*>(a.w.data) + j0 * row_bytes;
  if (a.w.dtype == DType::kQ4_Kx8) {
    thread_local std::vector<uint8_t> unpacked;
    unpacked.resize(static_cast<size_t>(rows * row_bytes));
    unpack_q4_k_x8(src, unpacked.data(), rows, k);
    src = unpacked.data();
  }
  kernels.dequantize(src, dst, rows * k);
}

void run_stream(Backend& backend, const MatmulArgs& a, const QuantKernels& kernels) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  const auto row_bytes = static_cast<int64_t>(dtype_bytes(a.w.dtype, k));
  const int64_t n_blocks = k / dtype_block_elements(a.w.dtype);
  const auto* w = static_cast<const uint8_t*>(a.w.data);
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  const XBuffer& xb = quantize_x(a.x.as<const float>(), m, k);
  QuantizedXRow rows[kQuantStreamMaxM];
  for (int64_t i = 0; i < m; ++i) {
    rows[i] = {xb.q.data() + i * k, xb.d.data() + i * (k / 32), xb.sum32.data() + i * (k / 32),
               xb.sum16.data() + i * (k / 16)};
  }
  auto run_rows = [&](int64_t begin, int64_t end, int /*thread_index*/) {
    const int64_t j0 = begin * kBlockN, j_end = std::min(n, end * kBlockN);
    kernels.rows_dot(rows, m, w + j0 * row_bytes, row_bytes, j_end - j0, n_blocks,
                     bias != nullptr ? bias + j0 : nullptr, out + j0, n);
  };
  const int64_t n_tasks = ceil_div(n, kBlockN);
  if (n_tasks == 1 || m * n * k < kMinParallelMacs) {
    run_rows(0, n_tasks, 0);
  } else {
    cpu_pool(backend).parallel_for(n_tasks, run_rows, 1);
  }
}

void run_prefill(Backend& backend, const MatmulArgs& a, const QuantKernels& kernels) {
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  const auto* x = a.x.as<const float>();
  const auto* bias = a.bias.as<const float>();
  auto* out = a.out.as<float>();
  const MatmulKernels& f32 = f32_kernels_for(matmul_isa());
  ThreadPool& pool = cpu_pool(backend);

  const int64_t n_blocks = ceil_div(n, kBlockN);
  const int64_t row_tiles = ceil_div(m, f32.tile_m);
  const int64_t tasks_wanted = kTasksPerThread * pool.n_threads();
  const int64_t m_chunks_wanted = n_blocks >= tasks_wanted ? 1 : ceil_div(tasks_wanted, n_blocks);
  const int64_t chunk_rows = ceil_div(row_tiles, std::min(row_tiles, m_chunks_wanted)) * f32.tile_m;
  const int64_t m_chunks = ceil_div(m, chunk_rows);
  const int64_t n_tasks = n_blocks * m_chunks;

  auto run_tasks = [&](int64_t begin, int64_t end, int /*thread_index*/) {
    float* widened = thread_buffer(kBlockN * k);
    int64_t widened_block = -1;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t nb = t / m_chunks, mc = t % m_chunks;
      const int64_t j0 = nb * kBlockN, jn = std::min(kBlockN, n - j0);
      const int64_t i0 = mc * chunk_rows, im = std::min(chunk_rows, m - i0);
      if (widened_block != nb) {  // consecutive tasks of a thread share a block when x rows are chunked
        widen_rows(a, kernels, j0, jn, widened);
        widened_block = nb;
      }
      f32.block_f32(x + i0 * k, widened, bias != nullptr ? bias + j0 : nullptr, out + i0 * n + j0, im, jn, k,
                    n);
    }
  };
  if (n_tasks == 1 || m * n * k < kMinParallelMacs) {
    run_tasks(0, n_tasks, 0);
  } else {
    pool.parallel_for(n_tasks, run_tasks, 1);
  }
}

void matmul_cpu_quantized(Backend& backend, const MatmulArgs& a) {
  const int64_t m = a.x.shape[0], n = a.w.shape[0];
  if (m == 0 || n == 0) return;
  const QuantKernels kernels = quant_kernels(a.w.dtype);
  if (m <= kQuantStreamMaxM) {
    run_stream(backend, a, kernels);
  } else {
    run_prefill(backend, a, kernels);
  }
}

const KernelRegistrar<MatmulArgs> kRegisterQ8_0(DeviceKind::kCpu, DType::kQ8_0, matmul_cpu_quantized);
const KernelRegistrar<MatmulArgs> kRegisterQ4_0(DeviceKind::kCpu, DType::kQ4_0, matmul_cpu_quantized);
const KernelRegistrar<MatmulArgs> kRegisterQ4_K(DeviceKind::kCpu, DType::kQ4_K, matmul_cpu_quantized);
const KernelRegistrar<MatmulArgs> kRegisterQ5_K(DeviceKind::kCpu, DType::kQ5_K, matmul_cpu_quantized);
const KernelRegistrar<MatmulArgs> kRegisterQ6_K(DeviceKind::kCpu, DType::kQ6_K, matmul_cpu_quantized);
const KernelRegistrar<MatmulArgs> kRegisterQ4_Kx8(DeviceKind::kCpu, DType::kQ4_Kx8, matmul_cpu_quantized);

// Round to nearest even for |v| < 2^22 without a libm call: adding 1.5 * 2^23 leaves the rounded integer in
// the low mantissa bits.
int32_t round_small(float v) {
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return bits - 0x4B400000;
}

}  // namespace

MatmulIsa quant_isa() {
  // The bf16 dot products are for 16-bit weights: block types take the AVX-512 kernels.
  const MatmulIsa isa = matmul_isa() == MatmulIsa::kAvx512Bf16 ? MatmulIsa::kAvx512 : matmul_isa();
  return isa == MatmulIsa::kAvx512 && !vnni_supported() ? MatmulIsa::kAvx2 : isa;
}

QuantKernels quant_kernels(DType dtype) {
  switch (quant_isa()) {
    case MatmulIsa::kScalar:
      return quant_kernels_scalar(dtype);
    case MatmulIsa::kAvx2:
      return quant_kernels_avx2(dtype);
    case MatmulIsa::kAvx512:
    case MatmulIsa::kAvx512Bf16:  // not returned by quant_isa()
      return quant_kernels_avx512(dtype);
  }
  return quant_kernels_scalar(dtype);
}

void quantize_x_row(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16) {
  if (quant_isa() == MatmulIsa::kScalar) {
    quantize_x_row_scalar(x, k, q, d, sum32, sum16);
  } else {
    quantize_x_row_avx2(x, k, q, d, sum32, sum16);
  }
}

void quantize_x_row_scalar(const float* x, int64_t k, int8_t* q, float* d, float* sum32, float* sum16) {
  for (int64_t b = 0; b < k / 32; ++b, x += 32, q += 32) {
    float amax = 0.0f;
    bool finite = true;
    for (int l = 0; l < 32; ++l) {
      const float v = std::fabs(x[l]);
      finite = finite && v <= std::numeric_limits<float>::max();
      amax = std::max(amax, v);
    }
    if (!finite) {
      std::memset(q, 0, 32);
      d[b] = sum32[b] = sum16[2 * b] = sum16[2 * b + 1] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const float scale = amax / 127.0f;
    const float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t s[2] = {0, 0};
    for (int l = 0; l < 32; ++l) {
      q[l] = static_cast<int8_t>(std::clamp(round_small(x[l] * inverse), -127, 127));
      s[l / 16] += q[l];
    }
    d[b] = scale;
    sum16[2 * b] = scale * static_cast<float>(s[0]);
    sum16[2 * b + 1] = scale * static_cast<float>(s[1]);
    sum32[b] = scale * static_cast<float>(s[0] + s[1]);
  }
}

}  // namespace autoglm

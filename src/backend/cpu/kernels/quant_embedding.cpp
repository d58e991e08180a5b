// CPU embedding on GGUF block-quantized tables: out[t, :] = dequantized table[ids[t], :]; table Q8_0, Q4_0,
// Q4_K, Q5_K or Q6_K, [vocab, d] row-major with d a multiple of the block (the op checks).
//
// A gather of t rows, each decoded whole from its blocks by the dequantizer of the instruction set in use
// (quant_matmul_kernels.h), whose values equal dequantize_row's bit for bit; only the gathered rows are
// touched, the table stays quantized. Floor: t * (dtype_bytes(table, d) + 4 d) bytes moved; decode (t = 1)
// is a few kilobytes, so rows are spread over threads only when there are enough of them.
// Reference: kernels/ref/embedding_ref.cpp (dequantize_row), checked by tests/backend/test_quant_matmul.cpp.
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/quant_matmul_kernels.h"
#include "ops/embedding.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

// Below this many output elements one thread finishes before a parallel region would start.
constexpr int64_t kMinParallelElements = int64_t{1} << 16;

void embedding_cpu_quantized(Backend& backend, const EmbeddingArgs& a) {
  const int64_t t = a.ids.shape[0], d = a.table.shape[1];
  const auto* ids = a.ids.as<const int32_t>();
  const auto* table = static_cast<const uint8_t*>(a.table.data);
  const auto row_bytes = static_cast<int64_t>(dtype_bytes(a.table.dtype, d));
  auto* out = a.out.as<float>();
  const DequantizeFn dequantize = quant_kernels(a.table.dtype).dequantize;
  auto rows = [&](int64_t begin, int64_t end, int /*thread_index*/) {
    for (int64_t r = begin; r < end; ++r)
      dequantize(table + static_cast<int64_t>(ids[r]) * row_bytes, out + r * d, d);
  };
  if (t * d < kMinParallelElements) {
    rows(0, t, 0);
  } else {
    cpu_pool(backend).parallel_for(t, rows, 1);
  }
}

const KernelRegistrar<EmbeddingArgs> kRegisterQ8_0(DeviceKind::kCpu, DType::kQ8_0, embedding_cpu_quantized);
const KernelRegistrar<EmbeddingArgs> kRegisterQ4_0(DeviceKind::kCpu, DType::kQ4_0, embedding_cpu_quantized);
const KernelRegistrar<EmbeddingArgs> kRegisterQ4_K(DeviceKind::kCpu, DType::kQ4_K, embedding_cpu_quantized);
const KernelRegistrar<EmbeddingArgs> kRegisterQ5_K(DeviceKind::kCpu, DType::kQ5_K, embedding_cpu_quantized);
const KernelRegistrar<EmbeddingArgs> kRegisterQ6_K(DeviceKind::kCpu, DType::kQ6_K, embedding_cpu_quantized);

}  // namespace
}  // namespace autoglm

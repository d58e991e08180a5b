// CPU embedding: out[t, :] = table[ids[t], :] widened to f32; table f32, f16 or bf16, [vocab, d] row-major.
//
// A gather of t rows: each row is a contiguous copy (f32) or a widening loop (f16/bf16, exact conversions).
// Floor: t * d * (bytes(table dtype) + 4) bytes moved; decode (t = 1) is a few kilobytes, so rows are spread
// over threads only when there are enough of them to pay for a parallel region.
// Reference: kernels/ref/embedding_ref.cpp, checked by tests/backend/test_embedding.cpp.
#include <cstdint>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "ops/embedding.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

// Below this many output elements one thread finishes before a parallel region would start.
constexpr int64_t kMinParallelElements = int64_t{1} << 16;

struct CopyF32 {
  static void row(const float* src, float* dst, int64_t d) {
    std::memcpy(dst, src, static_cast<size_t>(d) * sizeof(float));
  }
};
struct WidenF16 {
  static void row(const uint16_t* src, float* dst, int64_t d) {
    for (int64_t c = 0; c < d; ++c)
      dst[c] = f16_to_f32(src[c]);
  }
};
struct WidenBf16 {
  static void row(const uint16_t* src, float* dst, int64_t d) {
    for (int64_t c = 0; c < d; ++c)
      dst[c] = bf16_to_f32(src[c]);
  }
};

template <typename Row, typename T>
void gather(Backend& backend, const EmbeddingArgs& a) {
  const int64_t t = a.ids.shape[0], d = a.table.shape[1];
  const auto* ids = a.ids.as<const int32_t>();
  const auto* table = a.table.as<const T>();
  auto* out = a.out.as<float>();
  auto rows = [&](int64_t begin, int64_t end, int /*thread_index*/) {
    for (int64_t r = begin; r < end; ++r)
      Row::row(table + static_cast<int64_t>(ids[r]) * d, out + r * d, d);
  };
  if (t * d < kMinParallelElements) {
    rows(0, t, 0);
  } else {
    cpu_pool(backend).parallel_for(t, rows, 1);
  }
}

void embedding_cpu_f32(Backend& backend, const EmbeddingArgs& a) {
  gather<CopyF32, float>(backend, a);
}
void embedding_cpu_f16(Backend& backend, const EmbeddingArgs& a) {
  gather<WidenF16, uint16_t>(backend, a);
}
void embedding_cpu_bf16(Backend& backend, const EmbeddingArgs& a) {
  gather<WidenBf16, uint16_t>(backend, a);
}

const KernelRegistrar<EmbeddingArgs> kRegisterF32(DeviceKind::kCpu, DType::kF32, embedding_cpu_f32);
const KernelRegistrar<EmbeddingArgs> kRegisterF16(DeviceKind::kCpu, DType::kF16, embedding_cpu_f16);
const KernelRegistrar<EmbeddingArgs> kRegisterBf16(DeviceKind::kCpu, DType::kBF16, embedding_cpu_bf16);

}  // namespace
}  // namespace autoglm

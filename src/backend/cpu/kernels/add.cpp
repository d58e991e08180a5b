// Elementwise add, f32, CPU: out = a + b (residual connections).
//
// Layout: any shape, contiguous; out may be a or b (each element is read before it is written).
// Threading: the flat range is split over the pool in blocks of kGrain elements; small calls run inline.
// Accumulation: f32 (one add per element).
// Floor: 3 * n * 4 bytes / memory bandwidth.
// Reference: ref/add_ref.cpp.
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "ops/add.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int64_t kGrain = 16384;

void add_span(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] + b[i];
}

void add_cpu_f32(Backend& backend, const AddArgs& args) {
  const float* a = args.a.as<const float>();
  const float* b = args.b.as<const float>();
  float* out = args.out.as<float>();
  cpu_pool(backend).parallel_for(
      args.a.numel(),
      [&](int64_t begin, int64_t end, int) { add_span(a + begin, b + begin, out + begin, end - begin); },
      kGrain);
}

const KernelRegistrar<AddArgs> kRegister(DeviceKind::kCpu, DType::kF32, add_cpu_f32);

}  // namespace
}  // namespace autoglm

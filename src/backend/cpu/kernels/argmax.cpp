// Row-wise argmax, f32, CPU (ops/argmax.h). One pass per row; rows split over the pool.
// Floor: rows * c * 4 bytes / memory bandwidth.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/argmax_row.h"
#include "ops/argmax.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

constexpr int64_t kMinElemsPerTask = 65536;

void argmax_cpu_f32(Backend& backend, const ArgmaxArgs& a) {
  const int64_t rows = a.x.shape[0], c = a.x.shape[1];
  const float* x = a.x.as<const float>();
  int32_t* out = a.out.as<int32_t>();
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r)
          out[r] = argmax_row(x + r * c, c);
      },
      std::max<int64_t>(1, kMinElemsPerTask / c));
}

const KernelRegistrar<ArgmaxArgs> kRegister(DeviceKind::kCpu, DType::kF32, argmax_cpu_f32);

}  // namespace
}  // namespace autoglm

// Sampling penalties in place, f32, CPU (ops/apply_penalties.h): the reference the CUDA kernel is tested
// against. Each row walks its entries in order and rewrites the listed logits with
// sampling_rules::penalized_logit, the host sampler's operations in its order. Rows split over the pool.
// Floor: 12 bytes read and 8 bytes touched per entry; the logits without an entry are never read.
#include <algorithm>
#include <cstdint>

#include "backend/cpu/cpu_backend.h"
#include "backend/sampling_rules.h"
#include "ops/apply_penalties.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

void apply_penalties_cpu_f32(Backend& backend, const ApplyPenaltiesArgs& a) {
  const int64_t rows = a.logits.shape[0], c = a.logits.shape[1], n = a.entries.shape[0];
  float* logits = a.logits.as<float>();
  const float* params = a.params.as<const float>();
  const int32_t* offsets = a.offsets.as<const int32_t>();
  const int32_t* entries = a.entries.as<const int32_t>();
  cpu_pool(backend).parallel_for(
      rows,
      [&](int64_t first, int64_t last, int) {
        for (int64_t r = first; r < last; ++r) {
          const float* q = params + r * kPenaltyParams;
          const int64_t begin = std::clamp<int64_t>(offsets[r], 0, n);
          const int64_t end = std::clamp<int64_t>(offsets[r + 1], begin, n);
          float* row = logits + r * c;
          for (int64_t e = begin; e < end; ++e) {
            const int32_t* entry = entries + e * kPenaltyEntryFields;
            const int32_t id = entry[0];
            if (id < 0 || id >= c) continue;
            row[id] = sampling_rules::penalized_logit(row[id], q[0], q[1], q[2], entry[1], entry[2] != 0);
          }
        }
      },
      1);
}

const KernelRegistrar<ApplyPenaltiesArgs> kRegister(DeviceKind::kCpu, DType::kF32, apply_penalties_cpu_f32);

}  // namespace
}  // namespace autoglm

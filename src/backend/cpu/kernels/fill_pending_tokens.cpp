// Pending step inputs from an earlier step's sampled ids, CPU (ops/fill_pending_tokens.h).
#include <cstdint>

#include "ops/fill_pending_tokens.h"
#include "ops/kernel_table.h"

namespace autoglm {
namespace {

void fill_pending_tokens_cpu(Backend&, const FillPendingTokensArgs& a) {
  int32_t* ids = a.ids.as<int32_t>();
  const int32_t* choices = a.choices.as<const int32_t>();
  const int64_t m = a.choices.shape[0];
  for (int64_t i = 0; i < a.ids.shape[0]; ++i) {
    if (ids[i] >= 0) continue;
    const int64_t row = -1 - int64_t{ids[i]};
    ids[i] = row < m ? choices[row] : 0;
  }
}

const KernelRegistrar<FillPendingTokensArgs> kRegister(DeviceKind::kCpu, DType::kI32,
                                                       fill_pending_tokens_cpu);

}  // namespace
}  // namespace autoglm

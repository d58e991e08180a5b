// Token ids into a vocab-parallel rank's embedding rows, CPU (ops/shard_ids.h).
#include <cstdint>

#include "ops/kernel_table.h"
#include "ops/shard_ids.h"

namespace autoglm {
namespace {

void shard_ids_cpu(Backend&, const ShardIdsArgs& a) {
  const int32_t* ids = a.ids.as<const int32_t>();
  int32_t* out = a.out.as<int32_t>();
  for (int64_t i = 0; i < a.ids.shape[0]; ++i) {
    const int64_t id = ids[i];
    out[i] = static_cast<int32_t>(id >= a.begin && id < a.end ? id - a.begin : a.end - a.begin);
  }
}

const KernelRegistrar<ShardIdsArgs> kRegister(DeviceKind::kCpu, DType::kI32, shard_ids_cpu);

}  // namespace
}  // namespace autoglm

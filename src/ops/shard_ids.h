// Token ids into a vocab-parallel rank's own embedding rows: out[i] = ids[i] - begin for ids in [begin, end),
// else end - begin, the all-zero row the rank keeps after its own (so the rank adds nothing for tokens
// other ranks hold, and the all-reduce of the rows gives every rank the whole embedding).
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct ShardIdsArgs {
  TensorView ids;  // [t] i32 (dispatch key)
  int64_t begin = 0;
  int64_t end = 0;  // > begin
  TensorView out;   // [t] i32; may be ids
};

Status shard_ids(Backend& backend, const ShardIdsArgs& args);

}  // namespace autoglm

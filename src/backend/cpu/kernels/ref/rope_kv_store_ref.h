// Plain scalar reference of rope_kv_store for the kernel tests: rope_ref on q and k (double rotation), then
// a row-by-row copy (rounded for a bf16 / f16 cache) into cache rows positions[i]. No threads.
#pragma once

#include "ops/rope_kv_store.h"

namespace autoglm {

void rope_kv_store_ref(const RopeKvStoreArgs& args);

}  // namespace autoglm

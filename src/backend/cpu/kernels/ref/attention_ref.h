// Plain scalar references of attention and kv_store for the kernel tests: double accumulation, no threads.
#pragma once

#include "ops/attention.h"

namespace autoglm {

// The triple loop (query row, query head, key) straight from the header's definition.
void attention_ref(const AttentionArgs& args);
void kv_store_ref(const KvStoreArgs& args);

}  // namespace autoglm

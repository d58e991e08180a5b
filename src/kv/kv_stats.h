// Counters of the KV block pool and its prefix cache, for metrics (Prometheus) and for tests.
//
// Query and hit counts cover successful allocations only: a request that waits for room is retried by the
// scheduler every step, and counting each retry would make the hit rate depend on how long it waited.
#pragma once

#include <cstdint>

namespace autoglm {

struct KvStats {
  // Prefix lookups: one per successful KvManager::allocate_for.
  int64_t n_queries = 0;
  int64_t n_query_tokens = 0;  // prompt tokens looked up
  int64_t n_hit_blocks = 0;    // full blocks reused from the cache
  int64_t n_hit_tokens = 0;    // tokens whose KV was reused (n_hit_blocks * block_size)
  // Cached blocks whose content was dropped to make room for an allocation.
  int64_t n_evictions = 0;
  // Allocations refused for lack of blocks (kResourceExhausted), whatever the caller.
  int64_t n_allocation_failures = 0;
  // Snapshot of the pool at the time the stats were taken.
  int32_t n_blocks_total = 0;
  int32_t n_blocks_used = 0;    // referenced by at least one sequence
  int32_t n_blocks_cached = 0;  // unreferenced, content still indexed (reusable until evicted)
  int32_t n_blocks_empty = 0;   // unreferenced, no indexed content

  // Fraction of blocks referenced by sequences, in [0, 1]; cached blocks count as free.
  double usage() const { return n_blocks_total == 0 ? 0.0 : double(n_blocks_used) / n_blocks_total; }
  // Fraction of looked-up prompt tokens served from the cache.
  double hit_rate() const { return n_query_tokens == 0 ? 0.0 : double(n_hit_tokens) / n_query_tokens; }
};

}  // namespace autoglm

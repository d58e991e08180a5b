// KvManager: the KV block tables of every live sequence over one BlockPool, with automatic prefix reuse.
// The first level (L1, paged GPU KV) of the serving cache, as metadata: no tensors are touched here; the
// engine turns block tables into the attention kernel's block-table tensor and performs the BlockCopy list.
//
// Model (that of vLLM v1's KV cache manager):
//  * allocate_for(seq, prompt) keys the prompt's full blocks (block_hash.h), takes the longest indexed chain
//    (one more reference each) and fresh blocks for the rest, and indexes the prompt's full fresh blocks at
//    once. Indexing before the step computes them is safe: a sequence that hits them in the same step runs
//    in the same forward pass, where every layer writes the new KV before its attention reads it.
//  * append(seq, tokens) grows the table when a block fills and keys+indexes each block as it fills. A
//    token may be kPendingToken (sampled by a step still running on the device: the engine queues the next
//    step before the value reaches the host); its block and the blocks after it are keyed when resolve()
//    gives its value, so no key ever covers a token not known. Only
//    full blocks are indexed, so a partial block is never shared through the cache; it is shared only by
//    fork, and copy-on-write keeps shared blocks read-only: appending into a partial last block with other
//    references first moves the sequence to a fresh block and reports the (src, dst) copy to perform.
//  * free(seq) drops the references (deepest block first); indexed blocks stay cached until evicted.
//  * Every call that can fail (out of blocks: kResourceExhausted; unknown or duplicate sequence) leaves
//    every state unchanged, so the scheduler can plan with the queries below and apply a step atomically.
//
// Cost: O(1) amortized per token. A token costs O(1) to record; a block costs O(block_size) to key once,
// when it fills, and O(1) to allocate, retain, release or evict (intrusive queues, hash index).
//
// Not thread-safe: owned by the scheduler's thread.
//
// How the planned extensions plug in (not built yet):
//  * Host / disk / shared tiers (src/cache). Keys are content addresses independent of the process, so L2
//    and L3 store blocks under the same 128-bit key. Offload: a cached block keeps its content until
//    evicted, so the tier copies it out while it waits in the eviction queue (a BlockPool eviction hook
//    carrying (BlockId, BlockHash) tells the tier which copies to finish or drop). Load: after the L1 hit,
//    allocate_for would ask the tiers for the next keys of the prompt's chain, take fresh blocks for the
//    blocks they hold, index them, and return tier->block load copies next to the BlockCopy list, counting
//    those tokens as cached once the transfer lands (vLLM's KV connector split).
//  * Speculative decoding. Draft tokens need KV slots but are not committed, so they must not be keyed. A
//    reserve_lookahead(seq, k) would grow the table by the blocks for k slots without pushing tokens;
//    append is called with the accepted tokens only, so keys never cover rejected drafts and a rollback has
//    nothing to un-index. The draft model has its own KvManager (its own geometry and pool).
//  * Several models. One KvManager per model (one pool per KV geometry); HashScope::model_id keeps their
//    keys apart in shared tiers. Models mixing attention types (sliding window, linear state) would need one
//    table per layer group, as vLLM's KV cache groups.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "kv/block_hash.h"
#include "kv/block_pool.h"
#include "kv/block_table.h"
#include "kv/kv_stats.h"
#include "kv/kv_types.h"

namespace autoglm {

struct KvManagerOptions {
  int32_t n_blocks = 0;     // blocks in the pool (what the GPU memory budget allows)
  int32_t block_size = 16;  // token slots per block
  // Off: nothing is keyed or indexed, every block is private (for A/B measurements and debugging).
  bool enable_prefix_caching = true;
};

// Longest cached prefix of a token sequence.
struct PrefixMatch {
  int32_t n_blocks = 0;  // leading full blocks whose keys are indexed
  int32_t n_tokens = 0;  // n_blocks * block_size
};

// What allocate_for would reuse for a prompt now, and how much of it is already held by live sequences.
// Reusing a held block takes nothing available and no allocation can evict it; reusing a cached one takes
// one available block, and an allocation that runs out of empty blocks may evict it first.
struct PrefixReuse {
  int32_t n_blocks = 0;       // leading blocks allocate_for would reuse (at most (n_tokens - 1) / block_size)
  int32_t n_blocks_held = 0;  // of those, blocks with a reference count > 0
  int32_t n_blocks_held_leading = 0;  // the leading run of held blocks: the hits no allocation can evict
};

class KvManager {
 public:
  static Expected<KvManager> create(const KvManagerOptions& options);

  int32_t block_size() const { return pool_.block_size(); }
  int32_t n_sequences() const { return static_cast<int32_t>(tables_.size()); }
  bool contains(SequenceId seq) const { return tables_.contains(seq); }
  // The sequence's table, nullptr if unknown. Valid until the next mutating call.
  const BlockTable* table(SequenceId seq) const;
  const BlockPool& pool() const { return pool_; }
  KvStats stats() const { return pool_.stats(); }
  // Token slots of the live sequences' blocks that hold no token: the unfilled end of each sequence's last
  // block (every shared block is full, so no slot is counted twice; a fork that shares a partial block counts
  // its free slots once per sequence). Against n_blocks_used * block_size it is the KV memory lost to
  // fragmentation. O(live sequences).
  int64_t n_unfilled_slots() const;

  // --- Queries for admission and planning: pure, no statistics recorded. ---
  // Blocks any allocation can take now (empty + cached).
  int32_t n_blocks_available() const { return pool_.n_blocks_available(); }
  // The longest prefix of full blocks of `tokens` whose KV is cached in `scope`.
  PrefixMatch match_prefix(std::span<const TokenId> tokens, const HashScope& scope) const;
  // Available blocks that allocate_for(tokens, scope) would consume: fresh blocks plus cached blocks it
  // would reuse (they stop being available). Admission: fits iff this <= n_blocks_available().
  int32_t n_blocks_to_allocate(std::span<const TokenId> tokens, const HashScope& scope) const;
  bool can_allocate(std::span<const TokenId> tokens, const HashScope& scope) const;
  // Available blocks that append(seq, n_new_tokens tokens) would consume (growth plus a copy-on-write
  // block); kNotFound for an unknown sequence.
  Expected<int32_t> n_blocks_to_append(SequenceId seq, int32_t n_new_tokens) const;
  bool can_append(SequenceId seq, int32_t n_new_tokens) const;
  // The reuse allocate_for(seq, tokens, scope) would find now (the rule of allocate_for: full blocks only,
  // the last token never reused). Nothing when prefix caching is off.
  PrefixReuse match_reusable(std::span<const TokenId> tokens, const HashScope& scope) const;
  // Blocks that freeing all of `seqs` (distinct ids) would make available: their blocks that no other
  // sequence holds. A scheduler planning preemptions counts with it. kNotFound for an unknown sequence.
  Expected<int32_t> n_blocks_freed_by(std::span<const SequenceId> seqs) const;

  // --- Mutations: all or nothing. ---
  // Creates the table of a new sequence holding `tokens` (its prompt; no pending token). Returns how many
  // leading tokens already have their KV in reused blocks (a multiple of block_size): the prefill starts
  // there. At most tokens.size() - 1 tokens are reused, because the forward pass must run the last prompt
  // token for its logits, and that writes the token's KV: a prompt made only of cached full blocks recomputes
  // its last block into a fresh one. kInvalidArgument if seq exists; kResourceExhausted if blocks are short.
  Expected<int32_t> allocate_for(SequenceId seq, std::span<const TokenId> tokens, const HashScope& scope);
  // Records tokens generated (or fed, for chunked prefill of a further chunk) at the sequence's end.
  // Block copies that must run before the KV of these tokens is written are appended to *copies (never
  // cleared, so one list can collect a whole step). kNotFound, kInvalidArgument (copies null),
  // kResourceExhausted.
  Status append(SequenceId seq, std::span<const TokenId> tokens, std::vector<BlockCopy>* copies);
  // Gives the value of the sequence's pending token at `position` and keys the blocks it held back.
  // kNotFound (unknown sequence), kInvalidArgument (no pending token there, or a negative token).
  Status resolve(SequenceId seq, int32_t position, TokenId token);
  // Starts `child` as a copy of `parent` sharing all its blocks (n>1 sampling, beams); no block is taken
  // until one of them appends. kNotFound (parent), kInvalidArgument (child exists).
  Status fork(SequenceId parent, SequenceId child);
  // Ends a sequence (finished, cancelled or preempted). Its indexed blocks stay cached, so a preempted
  // sequence that comes back usually hits its own prefix. kNotFound if unknown.
  Status free(SequenceId seq);

 private:
  // What allocate_for would do: computed by the pure queries and reused by the mutation.
  struct PromptPlan {
    BlockHash root;
    std::vector<BlockHash> full_block_hashes;  // keys of every full block of the prompt
    std::vector<BlockId> hit_blocks;           // reused blocks, first block first
    int32_t n_fresh_blocks = 0;
    int32_t n_hit_blocks_cached = 0;  // hit blocks now unreferenced: they leave the available count
    int32_t n_blocks_consumed() const { return n_fresh_blocks + n_hit_blocks_cached; }
  };

  KvManager(const KvManagerOptions& options, BlockPool pool);
  PromptPlan plan_prompt(std::span<const TokenId> tokens, const HashScope& scope) const;
  // Pushes tokens at the end of the table, taking a block of `fresh` whenever a new block starts, and keys
  // and indexes each block that fills. known_hashes[i], when present, is the key of block i.
  Status write_tokens(BlockTable& table, std::span<const TokenId> tokens, std::span<const BlockId> fresh,
                      std::span<const BlockHash> known_hashes);
  // Keys and indexes the table's full blocks whose tokens are all known, first block first.
  Status key_keyable_blocks(BlockTable& table, std::span<const BlockHash> known_hashes);
  Status out_of_blocks(const char* what, SequenceId seq, int32_t n_needed);

  bool enable_prefix_caching_;
  BlockPool pool_;
  std::unordered_map<SequenceId, BlockTable> tables_;
  std::vector<BlockId> release_scratch_;
};

}  // namespace autoglm

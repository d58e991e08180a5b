// Plain ids shared by the KV bookkeeping (src/kv/): which block, which token, which sequence, and the block
// copies that copy-on-write asks the engine to perform. Kept apart so that the scheduler and the engine can
// name them without pulling in the pool or the manager.
#pragma once

#include <cstdint>

namespace autoglm {

// Index of a KV block in its pool, 0..n_blocks-1. Also the block's index in the device tensors that the
// engine allocates for that pool ([n_blocks, block_size, kv_heads, head_dim] per layer), so it is the value
// written into the attention kernel's block table.
using BlockId = int32_t;
inline constexpr BlockId kNoBlock = -1;

// A vocabulary id, as the tokenizer and the sampler produce it.
using TokenId = int32_t;
// The place of a token that a step sampled on the device and whose value has not reached the host yet: the
// engine plans and queues the next step before it has (the sequence's next input is taken from the step's
// device output). No key covers it until it is resolved.
inline constexpr TokenId kPendingToken = -1;

// The scheduler's name for one sequence (one request, or one of its n>1 samples / beams after a fork).
using SequenceId = uint64_t;

// One block-sized device copy, KV of block src into block dst (all layers, K and V), that must run before
// the step that writes into dst. Emitted by copy-on-write: a sequence that appends into a partially filled
// block shared with another sequence gets a private copy first.
struct BlockCopy {
  BlockId src = kNoBlock;
  BlockId dst = kNoBlock;
  friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

}  // namespace autoglm

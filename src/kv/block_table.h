// The block table of one sequence: which pool blocks hold its KV, in order, plus what is needed to key the
// block that fills next (the keys of its full blocks and the tokens of its partial last block).
//
// Token i of the sequence lives in slot i % block_size of blocks()[i / block_size]. The table always holds
// exactly ceil(n_tokens / block_size) blocks. Only the tokens of the partial last block are kept, so memory
// is O(blocks + block_size) per sequence, not O(tokens).
//
// A passive record: KvManager keeps it consistent with the pool's reference counts.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/block_hash.h"
#include "kv/kv_types.h"

namespace autoglm {

class BlockTable {
 public:
  BlockTable(int32_t block_size, const BlockHash& root) : block_size_(block_size), root_(root) {}

  int32_t block_size() const { return block_size_; }
  int32_t n_tokens() const { return n_tokens_; }
  std::span<const BlockId> blocks() const { return blocks_; }
  // Keys of the full blocks, first block first (one per full block).
  std::span<const BlockHash> full_block_hashes() const { return full_block_hashes_; }
  // Tokens of the partially filled last block; empty when every block is full.
  std::span<const TokenId> tail_tokens() const { return tail_tokens_; }
  // Key of the sequence's scope: the parent of its first block.
  const BlockHash& root() const { return root_; }
  // Parent key of the block that fills next.
  const BlockHash& next_parent() const {
    return full_block_hashes_.empty() ? root_ : full_block_hashes_.back();
  }
  bool last_block_partial() const { return n_tokens_ % block_size_ != 0; }
  // Blocks to add to hold n_new_tokens more tokens (copy-on-write not included).
  int32_t n_blocks_to_grow(int32_t n_new_tokens) const {
    int32_t n_blocks_after = (n_tokens_ + n_new_tokens + block_size_ - 1) / block_size_;
    return n_blocks_after - static_cast<int32_t>(blocks_.size());
  }

  // Mutation, for KvManager. push_token returns true when the token filled the last block; the caller then
  // keys it with complete_tail.
  void push_block(BlockId id) { blocks_.push_back(id); }
  void replace_last_block(BlockId id) { blocks_.back() = id; }
  bool push_token(TokenId token) {
    tail_tokens_.push_back(token);
    ++n_tokens_;
    return static_cast<int32_t>(tail_tokens_.size()) == block_size_;
  }
  void complete_tail(const BlockHash& hash) {
    full_block_hashes_.push_back(hash);
    tail_tokens_.clear();
  }

 private:
  int32_t block_size_;
  BlockHash root_;
  int32_t n_tokens_ = 0;
  std::vector<BlockId> blocks_;
  std::vector<BlockHash> full_block_hashes_;
  std::vector<TokenId> tail_tokens_;
};

}  // namespace autoglm

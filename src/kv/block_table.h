// The block table of one sequence: which pool blocks hold its KV, in order, plus what is needed to key the
// blocks that are not keyed yet (the keys of the keyed blocks and the tokens after them).
//
// Token i of the sequence lives in slot i % block_size of blocks()[i / block_size]. The table always holds
// exactly ceil(n_tokens / block_size) blocks. A full block is keyed once all its tokens are known: a token
// may be kPendingToken (sampled by a step whose result has not reached the host; see KvManager::resolve),
// and the keys of its block and of every block after it wait for it. Only the tokens after the keyed blocks
// are kept, so memory is O(blocks + block_size) per sequence, not O(tokens).
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
  // Keys of the keyed blocks, first block first: one per full block unless a pending token holds them back.
  std::span<const BlockHash> full_block_hashes() const { return full_block_hashes_; }
  // Tokens after the keyed blocks: the partially filled last block, and full blocks waiting for a pending
  // token.
  std::span<const TokenId> tail_tokens() const { return tail_tokens_; }
  int32_t n_keyed_blocks() const { return static_cast<int32_t>(full_block_hashes_.size()); }
  // The first block after the keyed ones is full and all its tokens are known: it can be keyed now.
  bool next_block_keyable() const {
    if (static_cast<int32_t>(tail_tokens_.size()) < block_size_) return false;
    for (int32_t i = 0; i < block_size_; ++i)
      if (tail_tokens_[static_cast<size_t>(i)] == kPendingToken) return false;
    return true;
  }
  // The tokens of that block.
  std::span<const TokenId> next_block_tokens() const {
    return std::span<const TokenId>(tail_tokens_).first(static_cast<size_t>(block_size_));
  }
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

  // Mutation, for KvManager. After push_token or set_token the caller keys every block that became
  // keyable (next_block_keyable, then key_next_block with its key), first block first.
  void push_block(BlockId id) { blocks_.push_back(id); }
  void replace_last_block(BlockId id) { blocks_.back() = id; }
  void push_token(TokenId token) {
    tail_tokens_.push_back(token);
    ++n_tokens_;
  }
  // Token `position` of the sequence, which must not be in a keyed block: false if it is, or is not held.
  bool set_token(int32_t position, TokenId token) {
    const int64_t i = int64_t{position} - int64_t{n_keyed_blocks()} * block_size_;
    if (i < 0 || i >= static_cast<int64_t>(tail_tokens_.size())) return false;
    tail_tokens_[static_cast<size_t>(i)] = token;
    return true;
  }
  TokenId token_at(int32_t position) const {
    const int64_t i = int64_t{position} - int64_t{n_keyed_blocks()} * block_size_;
    return i < 0 || i >= static_cast<int64_t>(tail_tokens_.size()) ? kPendingToken
                                                                   : tail_tokens_[static_cast<size_t>(i)];
  }
  void key_next_block(const BlockHash& hash) {
    full_block_hashes_.push_back(hash);
    tail_tokens_.erase(tail_tokens_.begin(), tail_tokens_.begin() + block_size_);
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

#include "kv/kv_manager.h"

#include <algorithm>
#include <string>
#include <utility>

namespace autoglm {
namespace {

std::string seq_name(SequenceId seq) {
  return "kv: sequence " + std::to_string(seq);
}

}  // namespace

Expected<KvManager> KvManager::create(const KvManagerOptions& options) {
  AUTOGLM_ASSIGN_OR_RETURN(BlockPool pool, BlockPool::create(options.n_blocks, options.block_size));
  return KvManager(options, std::move(pool));
}

KvManager::KvManager(const KvManagerOptions& options, BlockPool pool)
    : enable_prefix_caching_(options.enable_prefix_caching), pool_(std::move(pool)) {}

const BlockTable* KvManager::table(SequenceId seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? nullptr : &it->second;
}

int64_t KvManager::n_unfilled_slots() const {
  int64_t unfilled = 0;
  for (const auto& [seq, table] : tables_)
    unfilled += static_cast<int64_t>(table.blocks().size()) * table.block_size() - table.n_tokens();
  return unfilled;
}

KvManager::PromptPlan KvManager::plan_prompt(std::span<const TokenId> tokens, const HashScope& scope) const {
  const int32_t block_size = pool_.block_size();
  const auto n_tokens = static_cast<int32_t>(tokens.size());
  PromptPlan plan;
  plan.root = root_hash(scope);
  const int32_t n_full_blocks = n_tokens / block_size;
  if (enable_prefix_caching_) {
    plan.full_block_hashes.reserve(static_cast<size_t>(n_full_blocks));
    BlockHash parent = plan.root;
    for (int32_t i = 0; i < n_full_blocks; ++i) {
      parent = hash_block(parent, tokens.subspan(static_cast<size_t>(i * block_size), block_size));
      plan.full_block_hashes.push_back(parent);
    }
    // The last prompt token is always computed (see allocate_for), so its block cannot be reused.
    const int32_t n_hits_max = n_tokens == 0 ? 0 : (n_tokens - 1) / block_size;
    for (int32_t i = 0; i < n_hits_max; ++i) {
      std::optional<BlockId> hit = pool_.index().find(plan.full_block_hashes[static_cast<size_t>(i)]);
      if (!hit) break;
      plan.hit_blocks.push_back(*hit);
      if (pool_.ref_count(*hit) == 0) ++plan.n_hit_blocks_cached;
    }
  }
  const int32_t n_blocks = (n_tokens + block_size - 1) / block_size;
  plan.n_fresh_blocks = n_blocks - static_cast<int32_t>(plan.hit_blocks.size());
  return plan;
}

PrefixMatch KvManager::match_prefix(std::span<const TokenId> tokens, const HashScope& scope) const {
  PrefixMatch match;
  if (!enable_prefix_caching_) return match;
  const int32_t block_size = pool_.block_size();
  const auto n_full_blocks = static_cast<int32_t>(tokens.size()) / block_size;
  BlockHash parent = root_hash(scope);
  for (int32_t i = 0; i < n_full_blocks; ++i) {
    parent = hash_block(parent, tokens.subspan(static_cast<size_t>(i * block_size), block_size));
    if (!pool_.index().find(parent)) break;
    ++match.n_blocks;
  }
  match.n_tokens = match.n_blocks * block_size;
  return match;
}

int32_t KvManager::n_blocks_to_allocate(std::span<const TokenId> tokens, const HashScope& scope) const {
  return plan_prompt(tokens, scope).n_blocks_consumed();
}

bool KvManager::can_allocate(std::span<const TokenId> tokens, const HashScope& scope) const {
  return n_blocks_to_allocate(tokens, scope) <= pool_.n_blocks_available();
}

Expected<int32_t> KvManager::n_blocks_to_append(SequenceId seq, int32_t n_new_tokens) const {
  const BlockTable* t = table(seq);
  if (t == nullptr) return not_found(seq_name(seq) + " is unknown");
  if (n_new_tokens <= 0) return 0;
  const bool copy_on_write = t->last_block_partial() && pool_.ref_count(t->blocks().back()) > 1;
  return t->n_blocks_to_grow(n_new_tokens) + (copy_on_write ? 1 : 0);
}

PrefixReuse KvManager::match_reusable(std::span<const TokenId> tokens, const HashScope& scope) const {
  PrefixReuse reuse;
  if (!enable_prefix_caching_ || tokens.empty()) return reuse;
  const int32_t block_size = pool_.block_size();
  // The same bound as plan_prompt: the last token is always computed.
  const auto n_hits_max = (static_cast<int32_t>(tokens.size()) - 1) / block_size;
  BlockHash parent = root_hash(scope);
  for (int32_t i = 0; i < n_hits_max; ++i) {
    parent = hash_block(parent, tokens.subspan(static_cast<size_t>(i * block_size), block_size));
    std::optional<BlockId> hit = pool_.index().find(parent);
    if (!hit) break;
    ++reuse.n_blocks;
    if (pool_.ref_count(*hit) == 0) continue;
    ++reuse.n_blocks_held;
    if (reuse.n_blocks_held == reuse.n_blocks) ++reuse.n_blocks_held_leading;
  }
  return reuse;
}

Expected<int32_t> KvManager::n_blocks_freed_by(std::span<const SequenceId> seqs) const {
  // One sequence (the common case) needs no counting: a table holds each block once.
  if (seqs.size() == 1) {
    const BlockTable* t = table(seqs[0]);
    if (t == nullptr) return not_found(seq_name(seqs[0]) + " is unknown");
    int32_t n_freed = 0;
    for (BlockId id : t->blocks())
      n_freed += pool_.ref_count(id) == 1 ? 1 : 0;
    return n_freed;
  }
  std::unordered_map<BlockId, int32_t> n_held;  // references the given tables hold, per block
  for (SequenceId seq : seqs) {
    const BlockTable* t = table(seq);
    if (t == nullptr) return not_found(seq_name(seq) + " is unknown");
    for (BlockId id : t->blocks())
      ++n_held[id];
  }
  int32_t n_freed = 0;
  for (const auto& [id, n] : n_held)
    n_freed += pool_.ref_count(id) == n ? 1 : 0;
  return n_freed;
}

bool KvManager::can_append(SequenceId seq, int32_t n_new_tokens) const {
  Expected<int32_t> n_needed = n_blocks_to_append(seq, n_new_tokens);
  return n_needed.has_value() && *n_needed <= pool_.n_blocks_available();
}

Status KvManager::out_of_blocks(const char* what, SequenceId seq, int32_t n_needed) {
  pool_.record_allocation_failure();
  return resource_exhausted(seq_name(seq) + ": out of KV blocks to " + what + ": " +
                            std::to_string(n_needed) + " needed, " +
                            std::to_string(pool_.n_blocks_available()) + " of " +
                            std::to_string(pool_.n_blocks_total()) + " available");
}

Status KvManager::write_tokens(BlockTable& table, std::span<const TokenId> tokens,
                               std::span<const BlockId> fresh, std::span<const BlockHash> known_hashes) {
  const int32_t block_size = pool_.block_size();
  size_t next_fresh = 0;
  for (TokenId token : tokens) {
    if (table.n_tokens() % block_size == 0) table.push_block(fresh[next_fresh++]);
    table.push_token(token);
    AUTOGLM_RETURN_IF_ERROR(key_keyable_blocks(table, known_hashes));
  }
  return Status::ok();
}

Status KvManager::key_keyable_blocks(BlockTable& table, std::span<const BlockHash> known_hashes) {
  while (table.next_block_keyable()) {
    const auto position = static_cast<size_t>(table.n_keyed_blocks());
    const BlockHash hash = position < known_hashes.size()
                               ? known_hashes[position]
                               : hash_block(table.next_parent(), table.next_block_tokens());
    table.key_next_block(hash);
    if (!enable_prefix_caching_) continue;
    // False means another block already holds this content; this one stays private.
    Expected<bool> registered =
        pool_.register_block(table.blocks()[position], hash, static_cast<int32_t>(position));
    if (!registered) return internal_error(registered.status().message());
  }
  return Status::ok();
}

Status KvManager::resolve(SequenceId seq, int32_t position, TokenId token) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return not_found(seq_name(seq) + " is unknown");
  if (token < 0) return invalid_argument(seq_name(seq) + ": a pending token resolves to a vocabulary id");
  BlockTable& table = it->second;
  if (position < 0 || position >= table.n_tokens() || table.token_at(position) != kPendingToken) {
    return invalid_argument(seq_name(seq) + ": no pending token at position " + std::to_string(position));
  }
  table.set_token(position, token);
  return key_keyable_blocks(table, {});
}

Expected<int32_t> KvManager::allocate_for(SequenceId seq, std::span<const TokenId> tokens,
                                          const HashScope& scope) {
  if (contains(seq)) return invalid_argument(seq_name(seq) + " already has a block table");
  if (std::find(tokens.begin(), tokens.end(), kPendingToken) != tokens.end())
    return invalid_argument(seq_name(seq) + ": a prompt has no pending tokens");
  PromptPlan plan = plan_prompt(tokens, scope);
  if (plan.n_blocks_consumed() > pool_.n_blocks_available()) {
    return out_of_blocks("hold its prompt", seq, plan.n_blocks_consumed());
  }
  // Retain the hits before allocating, so that the allocation cannot evict them.
  AUTOGLM_RETURN_IF_ERROR(pool_.retain(plan.hit_blocks));
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<BlockId> fresh, pool_.allocate(plan.n_fresh_blocks));

  BlockTable table(pool_.block_size(), plan.root);
  const auto n_hit_tokens = static_cast<size_t>(plan.hit_blocks.size()) * static_cast<size_t>(block_size());
  for (size_t i = 0; i < plan.hit_blocks.size(); ++i) {
    table.push_block(plan.hit_blocks[i]);
    for (TokenId token : tokens.subspan(i * static_cast<size_t>(block_size()), block_size())) {
      table.push_token(token);
    }
    table.key_next_block(plan.full_block_hashes[i]);
  }
  AUTOGLM_RETURN_IF_ERROR(write_tokens(table, tokens.subspan(n_hit_tokens), fresh, plan.full_block_hashes));
  tables_.emplace(seq, std::move(table));
  if (enable_prefix_caching_) {
    pool_.record_query(static_cast<int32_t>(tokens.size()), static_cast<int32_t>(plan.hit_blocks.size()));
  }
  return static_cast<int32_t>(n_hit_tokens);
}

Status KvManager::append(SequenceId seq, std::span<const TokenId> tokens, std::vector<BlockCopy>* copies) {
  if (copies == nullptr) return invalid_argument(seq_name(seq) + ": append needs a list for block copies");
  auto it = tables_.find(seq);
  if (it == tables_.end()) return not_found(seq_name(seq) + " is unknown");
  BlockTable& table = it->second;
  if (tokens.empty()) return Status::ok();

  const bool copy_on_write = table.last_block_partial() && pool_.ref_count(table.blocks().back()) > 1;
  const int32_t n_needed =
      table.n_blocks_to_grow(static_cast<int32_t>(tokens.size())) + (copy_on_write ? 1 : 0);
  if (n_needed > pool_.n_blocks_available()) return out_of_blocks("append", seq, n_needed);
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<BlockId> fresh, pool_.allocate(n_needed));

  std::span<const BlockId> growth = fresh;
  if (copy_on_write) {
    // The shared partial block keeps serving the other sequences; this one continues in a private copy.
    const BlockId shared = table.blocks().back();
    copies->push_back({shared, fresh[0]});
    table.replace_last_block(fresh[0]);
    AUTOGLM_RETURN_IF_ERROR(pool_.release(std::span<const BlockId>(&shared, 1)));
    growth = growth.subspan(1);
  }
  // Keys of the blocks that fill are computed as they fill: nothing known in advance.
  return write_tokens(table, tokens, growth, {});
}

Status KvManager::fork(SequenceId parent, SequenceId child) {
  auto it = tables_.find(parent);
  if (it == tables_.end()) return not_found(seq_name(parent) + " is unknown (fork parent)");
  if (contains(child)) return invalid_argument(seq_name(child) + " already has a block table (fork child)");
  AUTOGLM_RETURN_IF_ERROR(pool_.retain(it->second.blocks()));
  BlockTable copy = it->second;
  tables_.emplace(child, std::move(copy));
  return Status::ok();
}

Status KvManager::free(SequenceId seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return not_found(seq_name(seq) + " is unknown");
  // Deepest block first: the pool breaks the recency tie by depth anyway, and this order needs no sort.
  std::span<const BlockId> blocks = it->second.blocks();
  release_scratch_.assign(blocks.rbegin(), blocks.rend());
  AUTOGLM_RETURN_IF_ERROR(pool_.release(release_scratch_));
  tables_.erase(it);
  return Status::ok();
}

}  // namespace autoglm

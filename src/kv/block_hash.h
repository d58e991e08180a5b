// Content keys of full KV blocks: a hash chain, so that equal keys mean equal KV.
//
// The KV of a block depends on every token before it, not only on its own tokens, so a block's key is
//   hash(parent key, the block's token ids, per-block extra bytes)
// with the parent of the first block being a root key derived from the sequence's HashScope (model id and
// tenant cache salt). Two sequences share a block only if the whole prefix up to and including that block is
// equal and they run in the same scope; the salt keeps tenants from reading (or timing) each other's prompts.
//
// Keys are 128-bit XXH3. The key stands for the KV content with no further check, so a collision would
// silently serve one prompt another prompt's KV. With 64 bits the birthday bound is too close for a cache
// that keys every block it ever computes and may persist them (L3, shared between replicas): after 6e8
// blocks the chance of some collision passes 1%. With 128 bits it stays below 1e-14 even after 1e12 blocks.
// XXH3 is not cryptographic, so this protects against accidents, not against an adversary crafting
// collisions; that threat is confined by the per-tenant cache_salt (a tenant can only collide with itself).
//
// The encoding is explicit so keys are stable across processes and machines: the host and disk tiers and a
// shared store look blocks up by the same key. With u64 = 8 bytes little-endian, field(s) = u64 size, bytes:
//   root  = XXH3-128(field(kHashVersionTag) field(model_id) field(cache_salt))
//   block = XXH3-128(u64 parent.low, u64 parent.high, u64 n_tokens, n_tokens x int32 LE, field(extra))
// Changing the encoding must change kHashVersionTag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kv/kv_types.h"

namespace autoglm {

struct BlockHash {
  uint64_t low = 0;   // low 64 bits of the XXH3-128 digest
  uint64_t high = 0;  // high 64 bits
  friend bool operator==(const BlockHash&, const BlockHash&) = default;
  // 32 lowercase hex digits, high word first: the key's name in logs and in the on-disk tier.
  std::string to_hex() const;
};

// For unordered containers: the low word of XXH3 is already well mixed.
struct BlockHashHasher {
  size_t operator()(const BlockHash& hash) const { return static_cast<size_t>(hash.low); }
};

// What, besides the tokens, decides the KV of a sequence. Sequences share blocks only within one scope.
struct HashScope {
  // Which model (and weights revision, KV dtype) produced the KV: keeps a draft model's or another model's
  // blocks apart if pools or the persistent tiers are ever shared between models.
  std::string model_id;
  // Tenant isolation (OpenAI-style "cache_salt"); empty = the shared default namespace.
  std::string cache_salt;
};

// Version of the key encoding, folded into every root key.
inline constexpr std::string_view kHashVersionTag = "autoglm-kv-block-v1";

// The parent key of a sequence's first block.
BlockHash root_hash(const HashScope& scope);

// The key of one full block. `extra` carries per-block inputs that change the KV without changing the token
// ids: content hashes of images whose placeholder tokens fall in the block, a LoRA adapter id; empty for
// plain text.
BlockHash hash_block(const BlockHash& parent, std::span<const TokenId> tokens, std::string_view extra = {});

}  // namespace autoglm

#include "kv/block_hash.h"

#include <bit>
#include <cstdio>

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack: no allocation per block
#include <xxhash.h>

namespace autoglm {
namespace {

// Token ids and lengths are hashed as their in-memory bytes; the keys are defined as little-endian.
static_assert(std::endian::native == std::endian::little, "block keys are defined on little-endian bytes");

class Hasher {
 public:
  Hasher() { XXH3_128bits_reset(&state_); }
  void bytes(const void* data, size_t size) { XXH3_128bits_update(&state_, data, size); }
  void u64(uint64_t value) { bytes(&value, sizeof(value)); }
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  void field(std::string_view text) {
    u64(text.size());
    bytes(text.data(), text.size());
  }
  BlockHash digest() const {
    XXH128_hash_t h = XXH3_128bits_digest(&state_);
    return {h.low64, h.high64};
  }

 private:
  XXH3_state_t state_;
};

}  // namespace

std::string BlockHash::to_hex() const {
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return text;
}

BlockHash root_hash(const HashScope& scope) {
  Hasher hasher;
  hasher.field(kHashVersionTag);
  hasher.field(scope.model_id);
  hasher.field(scope.cache_salt);
  return hasher.digest();
}

BlockHash hash_block(const BlockHash& parent, std::span<const TokenId> tokens, std::string_view extra) {
  Hasher hasher;
  hasher.u64(parent.low);
  hasher.u64(parent.high);
  hasher.u64(tokens.size());
  hasher.bytes(tokens.data(), tokens.size_bytes());
  hasher.field(extra);
  return hasher.digest();
}

}  // namespace autoglm

// Block keys: deterministic, chained (a key depends on every earlier token), scoped (model id and tenant
// salt separate key spaces), unambiguous field framing, and pinned bytes (the keys name blocks in the
// persistent tiers, so the encoding must not drift silently).
#include "kv/block_hash.h"

#include <gtest/gtest.h>

#include <vector>

namespace autoglm {
namespace {

using Tokens = std::vector<TokenId>;

TEST(BlockHash, IsDeterministic) {
  const BlockHash root = root_hash({"model", "salt"});
  EXPECT_EQ(root, root_hash({"model", "salt"}));
  EXPECT_EQ(hash_block(root, Tokens{1, 2, 3, 4}), hash_block(root, Tokens{1, 2, 3, 4}));
}

TEST(BlockHash, PinnedEncoding) {
  // One-shot XXH3_128bits of the byte layout documented in block_hash.h gives these same values (checked
  // when they were pinned). Changing them invalidates every persisted key: bump kHashVersionTag as well.
  const BlockHash root = root_hash({});
  EXPECT_EQ(root.to_hex(), "b27dcf3ad05d8f43f5379fb1585c375e");
  EXPECT_EQ(hash_block(root, Tokens{0, 1, 2, 3}).to_hex(), "2afca63bbc2866eead1f563f6e04066e");
}

TEST(BlockHash, DependsOnTokensTheirOrderAndCount) {
  const BlockHash root = root_hash({});
  const BlockHash a = hash_block(root, Tokens{1, 2, 3, 4});
  EXPECT_NE(a, hash_block(root, Tokens{1, 2, 3, 5}));
  EXPECT_NE(a, hash_block(root, Tokens{2, 1, 3, 4}));
  EXPECT_NE(a, hash_block(root, Tokens{1, 2, 3}));
  EXPECT_NE(hash_block(root, Tokens{}), hash_block(root, Tokens{0}));
}

TEST(BlockHash, ChainsThroughTheParent) {
  const BlockHash root = root_hash({});
  const BlockHash first_a = hash_block(root, Tokens{1, 2});
  const BlockHash first_b = hash_block(root, Tokens{3, 4});
  // Same tokens in the second block, different first block: different KV, different key.
  EXPECT_NE(hash_block(first_a, Tokens{5, 6}), hash_block(first_b, Tokens{5, 6}));
}

TEST(BlockHash, ScopeSeparatesTenantsAndModels) {
  const Tokens tokens = {7, 8, 9, 10};
  const BlockHash shared = hash_block(root_hash({"m", ""}), tokens);
  EXPECT_NE(shared, hash_block(root_hash({"m", "tenant-a"}), tokens));
  EXPECT_NE(hash_block(root_hash({"m", "tenant-a"}), tokens),
            hash_block(root_hash({"m", "tenant-b"}), tokens));
  EXPECT_NE(shared, hash_block(root_hash({"draft", ""}), tokens));
}

TEST(BlockHash, FieldsAreFramed) {
  // Without length prefixes these scopes would hash the same bytes.
  EXPECT_NE(root_hash({"ab", "c"}), root_hash({"a", "bc"}));
  EXPECT_NE(root_hash({"ab", ""}), root_hash({"", "ab"}));
}

TEST(BlockHash, ExtraBytesChangeTheKey) {
  const BlockHash root = root_hash({});
  const Tokens tokens = {1, 1, 1, 1};  // e.g. image placeholder tokens
  EXPECT_NE(hash_block(root, tokens, "image-1"), hash_block(root, tokens, "image-2"));
  EXPECT_NE(hash_block(root, tokens), hash_block(root, tokens, "lora-7"));
  EXPECT_EQ(hash_block(root, tokens), hash_block(root, tokens, ""));
}

TEST(BlockHash, HexIsHighWordFirst) {
  EXPECT_EQ((BlockHash{0x1, 0xabcdef}).to_hex(), "0000000000abcdef0000000000000001");
}

}  // namespace
}  // namespace autoglm

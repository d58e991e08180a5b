// ModelConfig from GGUF metadata: sizes that would drive allocations are bounded before use.
#include <gtest/gtest.h>

#include "gguf/gguf_file.h"
#include "loader/gguf_source.h"
#include "support/gguf_writer.h"

namespace autoglm {
namespace {

std::unique_ptr<GgufFile> parse(const test::GgufWriter& w) {
  const auto bytes = w.bytes();
  auto f =
      GgufFile::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), "m.gguf");
  EXPECT_TRUE(f.has_value()) << f.status().to_string();
  return f ? std::move(*f) : nullptr;
}

test::GgufWriter llama(uint32_t blocks) {
  test::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.embedding_length", 64);
  w.add_u32("llama.block_count", blocks);
  w.add_u32("llama.feed_forward_length", 128);
  w.add_u32("llama.attention.head_count", 4);
  return w;
}

TEST(GgufConfig, ReadsTheLlamaKeys) {
  auto f = parse(llama(3));
  auto c = model_config_from_gguf(*f);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->num_hidden_layers, 3);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->layer_types.size(), 3u);
}

// Found by the GGUF fuzz target: a block_count of billions sized the per-layer table before any check.
TEST(GgufConfig, AbsurdBlockCountIsAnErrorNotAnAllocation) {
  auto f = parse(llama(4000000000u));
  auto c = model_config_from_gguf(*f);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("block_count"), std::string::npos) << c.status().message();
}

TEST(GgufConfig, UnknownArchitectureIsUnsupported) {
  test::GgufWriter w;
  w.add_string("general.architecture", "mamba");
  auto f = parse(w);
  EXPECT_EQ(model_config_from_gguf(*f).status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace autoglm

// The GGUF reader on real files (llama.cpp vocabularies, stories260K) and on broken ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "gguf/gguf_file.h"
#include "support/gguf_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::GgufWriter;

std::string_view view(const std::vector<uint8_t>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.context_length", 128);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.add_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1.5f});
  w.add_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  std::vector<uint8_t> f32(4 * 6, 0);
  for (size_t i = 0; i < f32.size(); ++i)
    f32[i] = static_cast<uint8_t>(i);
  w.add_tensor("token_embd.weight", {3, 2}, 0, f32);
  w.add_tensor("blk.0.q.weight", {32, 1}, 8, std::vector<uint8_t>(34, 7));  // one Q8_0 block
  return w.bytes();
}

TEST(GgufFile, ReadsASmallFileCompletely) {
  const auto bytes = small_valid_file();
  auto f = GgufFile::parse(view(bytes), "mem");
  ASSERT_TRUE(f.has_value()) << f.status().to_string();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->get_string("general.architecture"), "llama");
  EXPECT_EQ((*f)->get_int("llama.context_length"), 128);
  EXPECT_DOUBLE_EQ(*(*f)->get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_EQ((*f)->get_int("tokenizer.ggml.add_bos_token"), 1);
  const GgufArray* tokens = (*f)->get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->strings, (std::vector<std::string>{"<unk>", "<s>", "</s>", "a"}));
  EXPECT_EQ((*f)->get_array("tokenizer.ggml.scores")->floats[3], -1.5);
  EXPECT_EQ((*f)->get_array("tokenizer.ggml.token_type")->ints, (std::vector<int64_t>{2, 3, 3, 1}));
  ASSERT_EQ((*f)->tensors().size(), 2u);
  const GgufTensorInfo* q = (*f)->find_tensor("blk.0.q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->bytes, 34u);
  EXPECT_EQ(q->offset, 32u);
  EXPECT_EQ((*f)->keys().front(), "general.architecture");
}

// The copies of llama.cpp's vocabulary files in the shared data went through a text conversion that replaced
// every byte >= 0x80 by U+FFFD (EF BF BD): their binary lengths and numbers are destroyed. Such a file must
// be rejected with a parse error naming it; an intact copy must be read completely.
bool mangled_by_text_conversion(const std::string& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped) return false;
  const std::string_view header(reinterpret_cast<const char*>(mapped->data()),
                                std::min<size_t>(mapped->size(), 4096));
  return header.find("\xef\xbf\xbd") != std::string_view::npos;
}

TEST(GgufFile, ReadsEveryVocabularyFileAndStories260K) {
  const std::string dir = test::shared_data_dir() + "/tokenizers/llama-cpp-vocab/";
  for (const char* name :
       {"ggml-vocab-bert-bge.gguf", "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-deepseek-llm.gguf",
        "ggml-vocab-falcon.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-neox.gguf",
        "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"}) {
    auto f = GgufFile::open(dir + name);
    if (mangled_by_text_conversion(dir + name)) {
      std::printf("note: %s is damaged (bytes >= 0x80 replaced by U+FFFD); checking it is rejected cleanly\n",
                  name);
      ASSERT_FALSE(f.has_value()) << name;
      EXPECT_EQ(f.status().code(), StatusCode::kParseError) << f.status().to_string();
      EXPECT_NE(f.status().message().find(name), std::string::npos);
      continue;
    }
    ASSERT_TRUE(f.has_value()) << name << ": " << f.status().to_string();
    EXPECT_TRUE((*f)->get_string("tokenizer.ggml.model").has_value()) << name;
    const GgufArray* tokens = (*f)->get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr) << name;
    EXPECT_GT(tokens->strings.size(), 1000u) << name;
  }
  auto stories = GgufFile::open(test::shared_data_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(stories.has_value()) << stories.status().to_string();
  EXPECT_EQ((*stories)->get_string("general.architecture"), "llama");
  EXPECT_EQ((*stories)->get_array("tokenizer.ggml.tokens")->strings.size(), 512u);
  ASSERT_NE((*stories)->find_tensor("token_embd.weight"), nullptr);
  for (const auto& t : (*stories)->tensors())
    EXPECT_NE((*stories)->tensor_data(t), nullptr);
}

Status parse_status(const std::vector<uint8_t>& bytes) {
  auto f = GgufFile::parse(view(bytes), "bad.gguf");
  return f.status();
}

TEST(GgufFile, EveryTruncationIsAnError) {
  const auto bytes = small_valid_file();
  // Cutting anywhere inside the header, the tensor table or the tensors' bytes must fail cleanly; only the
  // last tensor's alignment padding (64 - 34 = 30 bytes of Q8_0 block padding) may go.
  for (size_t n = 0; n + 30 < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    const Status s = parse_status(cut);
    EXPECT_FALSE(s.is_ok()) << "accepted a file cut at " << n;
    EXPECT_NE(s.message().find("bad.gguf"), std::string::npos);
  }
}

TEST(GgufFile, RejectsBadMagicAndVersion) {
  auto bytes = small_valid_file();
  bytes[0] = 'X';
  EXPECT_NE(parse_status(bytes).message().find("magic"), std::string::npos);
  bytes = small_valid_file();
  bytes[4] = 1;
  EXPECT_EQ(parse_status(bytes).code(), StatusCode::kUnsupported);
}

TEST(GgufFile, RejectsAbsurdCountsWithoutAllocating) {
  std::vector<uint8_t> b;
  GgufWriter::put_u32(b, 0x46554747);
  GgufWriter::put_u32(b, 3);
  GgufWriter::put_u64(b, 0);
  GgufWriter::put_u64(b, uint64_t{1} << 62);  // metadata count
  EXPECT_NE(parse_status(b).message().find("metadata count"), std::string::npos);

  GgufWriter w;
  std::vector<uint8_t> kv;
  GgufWriter::put_string(kv, "tokenizer.ggml.tokens");
  GgufWriter::put_u32(kv, 9);                  // array
  GgufWriter::put_u32(kv, 8);                  // of strings
  GgufWriter::put_u64(kv, uint64_t{1} << 60);  // absurd length
  w.add_raw_kv(kv);
  EXPECT_NE(parse_status(w.bytes()).message().find("exceeds the file"), std::string::npos);

  GgufWriter w2;
  std::vector<uint8_t> kv2;
  GgufWriter::put_string(kv2, "general.name");
  GgufWriter::put_u32(kv2, 8);
  GgufWriter::put_u64(kv2, uint64_t{1} << 40);  // string length past the end
  w2.add_raw_kv(kv2);
  EXPECT_NE(parse_status(w2.bytes()).message().find("exceeds the file"), std::string::npos);
}

TEST(GgufFile, RejectsUnknownTypesDuplicatesAndBadOffsets) {
  GgufWriter unknown_value;
  std::vector<uint8_t> kv;
  GgufWriter::put_string(kv, "x");
  GgufWriter::put_u32(kv, 13);
  GgufWriter::put_u32(kv, 0);
  unknown_value.add_raw_kv(kv);
  EXPECT_NE(parse_status(unknown_value.bytes()).message().find("unknown type"), std::string::npos);

  GgufWriter dup;
  dup.add_u32("a", 1);
  dup.add_u32("a", 2);
  EXPECT_NE(parse_status(dup.bytes()).message().find("duplicate metadata key 'a'"), std::string::npos);

  GgufWriter dup_tensor;
  dup_tensor.add_tensor("t", {4}, 0, std::vector<uint8_t>(16));
  dup_tensor.add_tensor("t", {4}, 0, std::vector<uint8_t>(16));
  EXPECT_NE(parse_status(dup_tensor.bytes()).message().find("duplicate tensor 't'"), std::string::npos);

  GgufWriter unknown_tensor;
  unknown_tensor.add_tensor("t", {4}, 99, std::vector<uint8_t>(16));
  const Status s = parse_status(unknown_tensor.bytes());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("ggml type 99"), std::string::npos);

  GgufWriter partial_block;
  partial_block.add_tensor("q", {16}, 8, std::vector<uint8_t>(34));  // Q8_0 rows hold 32-element blocks
  EXPECT_NE(parse_status(partial_block.bytes()).message().find("blocks"), std::string::npos);

  // A tensor whose data would run past the end of the file.
  GgufWriter past_end;
  past_end.add_tensor("t", {4}, 0, std::vector<uint8_t>(16));
  auto bytes = past_end.bytes();
  bytes.resize(bytes.size() - 20);  // 16 data bytes + 16 padding: cut into the data
  EXPECT_NE(parse_status(bytes).message().find("past the end"), std::string::npos);

  // Misaligned offset: patch the offset field of the only tensor (the last 8 bytes before the padding).
  GgufWriter misaligned;
  misaligned.add_tensor("t", {4}, 0, std::vector<uint8_t>(16));
  auto m = misaligned.bytes();
  const size_t offset_pos = 24 + 8 + 1 + 4 + 8 + 4;  // header, name, rank, dim, type
  m[offset_pos] = 3;
  EXPECT_NE(parse_status(m).message().find("not aligned"), std::string::npos);
}

TEST(GgufFile, MissingFileNamesThePath) {
  auto f = GgufFile::open("/nonexistent/x.gguf");
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.status().message().find("/nonexistent/x.gguf"), std::string::npos);
}

// Random byte edits of a valid image: each must parse or fail, never crash, hang or allocate wildly.
TEST(GgufFile, SurvivesRandomMutations) {
  const auto valid = small_valid_file();
  std::mt19937_64 rng(12345);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    auto b = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e)
      b[rng() % b.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    auto f = GgufFile::parse(view(b), "fuzz");
    accepted += f.has_value();
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace autoglm

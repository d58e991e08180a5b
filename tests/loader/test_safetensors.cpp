// SafetensorsFile and SafetensorsSource: the golden fixtures, writer round trips, one test per malformed
// input, sharded checkpoints, and a mutation fuzz that must never crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "loader/safetensors_file.h"
#include "loader/safetensors_source.h"
#include "support/safetensors_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::SafetensorsTensor;

// A failure of `code` whose message mentions every fragment (the file name, a word about the problem).
void expect_error(const Status& status, StatusCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), code) << status.to_string();
  for (const std::string& f : fragments)
    EXPECT_NE(status.message().find(f), std::string::npos) << status.to_string() << " lacks '" << f << "'";
}

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(i * 7 + 1);
  return b;
}

// ---- golden fixtures ------------------------------------------------------------------------------------

struct FixtureExpectation {
  const char* name;
  size_t tensor_count;
  bool has_lm_head;   // false: tied embeddings, HF does not save lm_head
  const char* probe;  // one tensor and its shape
  Shape probe_shape;
};

class FixtureTest : public ::testing::TestWithParam<FixtureExpectation> {};

TEST_P(FixtureTest, ReadsNamesShapesAndDtypes) {
  const FixtureExpectation& e = GetParam();
  auto source = open_weight_source(test::fixture_dir(e.name));
  ASSERT_TRUE(source) << source.status().to_string();
  const WeightSource& s = **source;
  EXPECT_EQ(s.tensor_names().size(), e.tensor_count);
  EXPECT_EQ(s.has("lm_head.weight"), e.has_lm_head);
  EXPECT_TRUE(s.has("model.embed_tokens.weight"));
  EXPECT_TRUE(s.has("model.norm.weight"));
  const auto probe = s.info(e.probe);
  ASSERT_TRUE(probe.has_value()) << e.probe;
  EXPECT_EQ(probe->shape, e.probe_shape) << probe->shape.to_string();
  for (const std::string& name : s.tensor_names()) {
    const auto info = s.info(name);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->dtype, DType::kF32) << name;  // the fixtures are saved in float32
    auto view = s.view(name);
    ASSERT_TRUE(view) << view.status().to_string();
    EXPECT_EQ(view->shape, info->shape);
    EXPECT_NE(view->data, nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FixtureTest,
    ::testing::Values(
        FixtureExpectation{"llama", 21, true, "model.layers.0.self_attn.q_proj.weight", Shape{64, 64}},
        FixtureExpectation{"llama3", 20, false, "model.layers.1.self_attn.k_proj.weight", Shape{32, 96}},
        FixtureExpectation{"mistral", 21, true, "model.layers.0.mlp.gate_proj.weight", Shape{160, 64}},
        FixtureExpectation{"qwen2", 26, false, "model.layers.0.self_attn.k_proj.bias", Shape{32}},
        FixtureExpectation{"qwen3", 24, false, "model.layers.0.self_attn.q_norm.weight", Shape{32}},
        FixtureExpectation{"glm", 25, true, "model.layers.0.mlp.gate_up_proj.weight", Shape{320, 64}},
        FixtureExpectation{"glm4", 29, true, "model.layers.1.post_mlp_layernorm.weight", Shape{64}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SafetensorsFixtures, ShardedLlamaServesEachTensorFromItsShard) {
  auto source = open_weight_source(test::fixture_dir("llama"));
  ASSERT_TRUE(source) << source.status().to_string();
  EXPECT_NE((*source)->describe().find("model.safetensors.index.json"), std::string::npos);
  const auto q = (*source)->info("model.layers.0.self_attn.q_proj.weight");
  ASSERT_TRUE(q.has_value());
  EXPECT_NE(q->file.find("model-00002-of-00005.safetensors"), std::string::npos);
  EXPECT_EQ((*source)->info("lm_head.weight")->shape, (Shape{1024, 64}));

  // model.norm.weight is the last entry of shard 5 (header 512 bytes, data offsets [82432, 82688]); the view
  // must hold exactly the bytes at that place in the file.
  auto norm = (*source)->view("model.norm.weight");
  ASSERT_TRUE(norm) << norm.status().to_string();
  ASSERT_EQ(norm->nbytes(), 256u);
  std::ifstream f(test::fixture_dir("llama") + "/model-00005-of-00005.safetensors", std::ios::binary);
  std::vector<char> expected(256);
  f.seekg(8 + 512 + 82432);
  f.read(expected.data(), 256);
  ASSERT_TRUE(f);
  EXPECT_EQ(std::memcmp(norm->data, expected.data(), 256), 0);
}

TEST(SafetensorsFixtures, SingleFilePathOpensThatFile) {
  const std::string path = test::fixture_dir("qwen2") + "/model.safetensors";
  auto source = open_weight_source(path);
  ASSERT_TRUE(source) << source.status().to_string();
  EXPECT_EQ((*source)->describe(), path);
  EXPECT_FALSE((*source)->has("lm_head.weight"));  // tied: only the embedding is stored
}

// ---- writer round trip ----------------------------------------------------------------------------------

TEST(SafetensorsRoundTrip, AllDtypesBytesIdentical) {
  const std::string dir = test::temp_dir("safetensors_round_trip");
  std::vector<SafetensorsTensor> tensors = {
      test::safetensors_tensor("a.f32", test::random_tensor(DType::kF32, {3, 5}, 1)),
      test::safetensors_tensor("b.f16", test::random_tensor(DType::kF16, {2, 3, 4}, 2)),
      test::safetensors_tensor("c.bf16", test::random_tensor(DType::kBF16, {7}, 3)),
      test::safetensors_tensor("d.i32", test::random_tensor(DType::kI32, {1, 2, 2, 3}, 4, -100.0f, 100.0f)),
      {"e.scalar", "F32", {}, iota_bytes(4)},
      {"f.empty", "F16", {0, 8}, {}},
  };
  const std::string path = dir + "/model.safetensors";
  ASSERT_TRUE(test::write_safetensors(path, tensors));
  auto file = SafetensorsFile::open(path);
  ASSERT_TRUE(file) << file.status().to_string();
  ASSERT_EQ(file->size(), tensors.size());
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kF32, DType::kF16};
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto view = file->view(tensors[i].name);
    ASSERT_TRUE(view) << view.status().to_string();
    EXPECT_EQ(view->dtype, dtypes[i]);
    ASSERT_EQ(view->shape.rank(), static_cast<int>(tensors[i].shape.size()));
    for (int d = 0; d < view->shape.rank(); ++d)
      EXPECT_EQ(view->shape[d], tensors[i].shape[d]);
    EXPECT_EQ(test::tensor_bytes(*view), tensors[i].bytes) << tensors[i].name;
    EXPECT_EQ(file->info(tensors[i].name)->file, path);
  }
}

// ---- malformed files, one test each ---------------------------------------------------------------------

class SafetensorsBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        test::temp_dir(std::string("bad_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/model.safetensors";
  }
  // Writes `header` + `data` and opens it; the open must fail.
  Status open_raw(const std::string& header, std::vector<uint8_t> data = {},
                  std::optional<uint64_t> header_len = std::nullopt) {
    EXPECT_TRUE(test::write_safetensors_raw(path_, header, data, header_len));
    auto file = SafetensorsFile::open(path_);
    return file ? internal_error("unexpectedly opened") : file.status();
  }
  std::string dir_, path_;
};

TEST_F(SafetensorsBadInput, FileShorterThanEightBytes) {
  ASSERT_TRUE(test::write_bytes(path_, {1, 2, 3, 4, 5}));
  expect_error(SafetensorsFile::open(path_).status(), StatusCode::kParseError, {path_, "too short"});
}

TEST_F(SafetensorsBadInput, HeaderLengthBeyondFile) {
  expect_error(open_raw("{}", {}, 1000), StatusCode::kParseError,
               {path_, "header length 1000 exceeds the file"});
  expect_error(open_raw("{}", {}, ~uint64_t{0}), StatusCode::kParseError, {path_, "exceeds the file"});
}

TEST_F(SafetensorsBadInput, HeaderNotJson) {
  expect_error(open_raw("this is not json"), StatusCode::kParseError, {path_, "not valid JSON"});
}

TEST_F(SafetensorsBadInput, HeaderJsonNotAnObject) {
  expect_error(open_raw("[1, 2, 3]"), StatusCode::kParseError, {path_, "not an object"});
}

TEST_F(SafetensorsBadInput, TruncatedDataSection) {
  expect_error(
      open_raw(R"({"a.weight":{"dtype":"F32","shape":[4,6],"data_offsets":[0,96]}})", iota_bytes(64)),
      StatusCode::kParseError,
      {path_ + ": tensor 'a.weight': data_offsets [0, 96] exceed the data section (64 bytes)"});
}

TEST_F(SafetensorsBadInput, UnsupportedDtype) {
  for (const char* dtype : {"F8_E4M3", "I8", "F64", "NOT_A_DTYPE"}) {
    const std::string header =
        std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[2],"data_offsets":[0,2]}})";
    expect_error(open_raw(header, iota_bytes(2)), StatusCode::kUnsupported,
                 {path_, "'w'", dtype, "not supported"});
  }
}

TEST_F(SafetensorsBadInput, ShapeOffsetSizeMismatch) {
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}})", iota_bytes(64)),
               StatusCode::kParseError, {path_, "'w'", "size mismatch"});
}

TEST_F(SafetensorsBadInput, ShapeElementCountOverflow) {
  // 2^31 * 2^31 elements * 4 bytes wraps to 0 in 64 bits; the 128-bit check must not be fooled.
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})"),
               StatusCode::kParseError, {path_, "'w'", "more than 2^64", "size mismatch"});
  expect_error(
      open_raw(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}})"),
      StatusCode::kParseError, {path_, "overflows"});
}

TEST_F(SafetensorsBadInput, NegativeDim) {
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]}})", iota_bytes(16)),
               StatusCode::kParseError, {path_, "'w'", "negative dim -2"});
}

TEST_F(SafetensorsBadInput, DuplicateTensor) {
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        iota_bytes(8)),
               StatusCode::kParseError, {path_, "duplicate tensor 'w'"});
}

TEST_F(SafetensorsBadInput, MalformedEntries) {
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1]}})", iota_bytes(4)), StatusCode::kParseError,
               {path_, "'w'", "missing 'data_offsets'"});
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", iota_bytes(8)),
               StatusCode::kParseError, {path_, "reversed"});
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", iota_bytes(4)),
               StatusCode::kParseError, {path_, "'shape' must be an array"});
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", iota_bytes(4)),
               StatusCode::kParseError, {path_, "integers"});
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", iota_bytes(4)),
               StatusCode::kParseError, {path_, "data_offsets"});
  expect_error(open_raw(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", iota_bytes(4)),
               StatusCode::kParseError, {path_, "'dtype' must be a string"});
  expect_error(open_raw(R"({"w":[1,2]})"), StatusCode::kParseError, {path_, "not an object"});
  expect_error(open_raw(R"({"w":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", iota_bytes(4)),
               StatusCode::kUnsupported, {path_, "rank 5"});
}

TEST_F(SafetensorsBadInput, MissingTensorInView) {
  ASSERT_TRUE(test::write_safetensors(path_, {{"present", "F32", {1}, iota_bytes(4)}}));
  auto source = open_weight_source(path_);
  ASSERT_TRUE(source) << source.status().to_string();
  expect_error((*source)->view("absent.weight").status(), StatusCode::kNotFound, {"absent.weight", path_});
}

TEST_F(SafetensorsBadInput, DirectoryWithNoWeights) {
  expect_error(open_weight_source(dir_).status(), StatusCode::kNotFound,
               {dir_, "model.safetensors.index.json", "model.safetensors"});
  expect_error(open_weight_source(dir_ + "/nope").status(), StatusCode::kNotFound, {dir_ + "/nope"});
}

// ---- sharded checkpoints --------------------------------------------------------------------------------

class ShardedSource : public SafetensorsBadInput {
 protected:
  void write_shards() {
    ASSERT_TRUE(test::write_safetensors(
        dir_ + "/s1.safetensors", {{"a", "F32", {2}, iota_bytes(8)}, {"extra", "I32", {1}, iota_bytes(4)}}));
    ASSERT_TRUE(test::write_safetensors(dir_ + "/s2.safetensors", {{"b", "BF16", {3}, iota_bytes(6)}}));
  }
  std::string index_path() const { return dir_ + "/model.safetensors.index.json"; }
};

TEST_F(ShardedSource, ServesMappedAndUnmappedTensors) {
  write_shards();
  ASSERT_TRUE(test::write_text(
      index_path(), R"({"metadata":{},"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})"));
  auto source = open_weight_source(dir_);
  ASSERT_TRUE(source) << source.status().to_string();
  EXPECT_EQ((*source)->tensor_names(), (std::vector<std::string>{"a", "b", "extra"}));
  EXPECT_EQ((*source)->info("b")->dtype, DType::kBF16);
  EXPECT_EQ((*source)->info("extra")->dtype, DType::kI32);  // in s1 but absent from the map: still served
  EXPECT_EQ(test::tensor_bytes(*(*source)->view("b")), iota_bytes(6));
}

TEST_F(ShardedSource, IndexNamingMissingShard) {
  write_shards();
  ASSERT_TRUE(
      test::write_text(index_path(), R"({"weight_map":{"a":"s1.safetensors","c":"s9.safetensors"}})"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kNotFound, {index_path(), "s9.safetensors"});
}

TEST_F(ShardedSource, IndexNamingTensorAbsentFromShard) {
  write_shards();
  ASSERT_TRUE(
      test::write_text(index_path(), R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kNotFound,
               {index_path(), "'b'", "s1.safetensors"});
}

TEST_F(ShardedSource, IndexMalformed) {
  write_shards();
  ASSERT_TRUE(test::write_text(index_path(), R"({"weight_map": {"a": "s1.safetensors",)"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kParseError, {index_path(), "not valid JSON"});
  ASSERT_TRUE(test::write_text(index_path(), R"({"weight_map": {"a": 3}})"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kParseError, {index_path(), "'a'", "string"});
  ASSERT_TRUE(test::write_text(index_path(), R"({"metadata": {}})"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kParseError, {index_path(), "weight_map"});
  ASSERT_TRUE(test::write_text(index_path(), R"({"weight_map": {"a": "../s1.safetensors"}})"));
  expect_error(open_weight_source(dir_).status(), StatusCode::kParseError,
               {index_path(), "not a file beside"});
}

// ---- mutation fuzz --------------------------------------------------------------------------------------

// Every mutation of a valid file must load or fail with a Status; loaded views must lie inside the mapping.
// Meant to run under ASan/UBSan as well (-DAUTOGLM_SANITIZE=ON).
TEST(SafetensorsFuzz, MutationsLoadOrFailNeverCrash) {
  const std::string path = test::temp_dir("safetensors_fuzz") + "/model.safetensors";
  const std::vector<uint8_t> valid = test::encode_safetensors({{"a.weight", "F32", {2, 3}, iota_bytes(24)},
                                                               {"b", "BF16", {4}, iota_bytes(8)},
                                                               {"c.ids", "I32", {2, 2}, iota_bytes(16)}});
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i)
    header_len = (header_len << 8) | valid[i];
  const uint8_t interesting[] = {'"', '{', '}', '[', ']', ',', ':',  '-',
                                 '0', '9', 'e', '.', ' ', 0,   0xff, 0x80};
  std::mt19937_64 rng(20240611);
  int loaded = 0, failed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> bytes = valid;
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    const size_t header_end = 8 + static_cast<size_t>(header_len);
    switch (iter % 5) {
      case 0:  // bit flips, mostly in the header where they matter
        for (size_t k = 1 + pick(4); k > 0; --k)
          bytes[pick(header_end)] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:  // truncation
        bytes.resize(pick(bytes.size()));
        break;
      case 2: {  // a different header length: a small step or anything
        const uint64_t len = (rng() & 1) ? header_len + pick(33) - 16 : rng() >> pick(64);
        for (int i = 0; i < 8; ++i)
          bytes[i] = static_cast<uint8_t>(len >> (8 * i));
        break;
      }
      case 3:  // JSON punctuation dropped into the header
        for (size_t k = 1 + pick(3); k > 0; --k)
          bytes[8 + pick(header_len)] = interesting[pick(sizeof interesting)];
        break;
      case 4:  // a digit changed: shapes and offsets stay JSON but lie
        for (size_t k = 1 + pick(2); k > 0; --k) {
          const size_t at = 8 + pick(header_len);
          if (bytes[at] >= '0' && bytes[at] <= '9') bytes[at] = static_cast<uint8_t>('0' + pick(10));
        }
        break;
    }
    // Unlink rather than truncate: ext4 flushes a truncated-and-rewritten file on close, 1 ms per iteration.
    std::filesystem::remove(path);
    ASSERT_TRUE(test::write_bytes(path, bytes));
    auto file = SafetensorsFile::open(path);
    if (!file) {
      ++failed;
      EXPECT_NE(file.status().message().find(path), std::string::npos) << file.status().to_string();
      continue;
    }
    ++loaded;
    const auto mapped = file->bytes();
    for (const std::string& name : file->tensor_names()) {
      auto view = file->view(name);
      ASSERT_TRUE(view) << view.status().to_string();
      const auto* p = static_cast<const uint8_t*>(view->data);
      ASSERT_GE(p, mapped.data());
      ASSERT_LE(p + view->nbytes(), mapped.data() + mapped.size()) << name;
      unsigned sum = 0;
      for (size_t i = 0; i < view->nbytes(); ++i)
        sum += p[i];  // touch every byte
      (void)sum;
    }
  }
  RecordProperty("loaded", loaded);
  RecordProperty("failed", failed);
  EXPECT_GT(loaded, 0);
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace autoglm

// WeightProvider::load_part, what a tensor-parallel rank reads: rows and columns of a checkpoint's weight
// (and of random weights) equal the same rows and columns of the whole weight, converted the same way;
// block types split only on block boundaries.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/backend.h"
#include "loader/weight_source.h"
#include "model/weight_provider.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

// Bytes of rows [r0, r1) and columns [c0, c1) of a host tensor of a dense type.
std::vector<uint8_t> cut(const Tensor& whole, Range rows, Range cols) {
  const size_t elem = dtype_size(whole.dtype());
  const int64_t width = whole.shape()[1];
  std::vector<uint8_t> out;
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const auto* p =
        static_cast<const uint8_t*>(whole.data()) + (r * width + cols.begin) * static_cast<int64_t>(elem);
    out.insert(out.end(), p, p + cols.size() * static_cast<int64_t>(elem));
  }
  return out;
}

std::vector<uint8_t> bytes(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  return std::vector<uint8_t>(p, p + t.nbytes());
}

TEST(WeightParts, CheckpointRowsAndColumnsEqualThoseOfTheWhole) {
  auto backend = create_backend("cpu", {.n_threads = 1}).value();
  auto source = open_weight_source(test::fixture_dir("llama")).value();
  auto provider = make_checkpoint_weights(*source, *backend);
  const std::string name = "model.layers.0.mlp.down_proj.weight";  // [64, 160] f32
  const Shape shape{64, 160};
  for (std::optional<DType> dtype : {std::optional<DType>(), std::optional<DType>(DType::kBF16)}) {
    const Tensor whole = provider->load(name, shape, dtype).value();
    for (auto [rows, cols] :
         {std::pair{Range{0, 64}, Range{80, 160}}, std::pair{Range{10, 30}, Range{0, 160}},
          std::pair{Range{5, 6}, Range{33, 97}}}) {
      auto part = provider->load_part(name, shape, rows, cols, dtype);
      ASSERT_TRUE(part.has_value()) << part.status().to_string();
      EXPECT_EQ(part->shape(), (Shape{rows.size(), cols.size()}));
      EXPECT_EQ(part->dtype(), whole.dtype());
      EXPECT_EQ(bytes(*part), cut(whole, rows, cols));
    }
  }
  const Tensor norm = provider->load("model.norm.weight", Shape{64}, DType::kF32).value();
  const Tensor norm_part =
      provider->load_part("model.norm.weight", Shape{64}, {16, 48}, {}, DType::kF32).value();
  EXPECT_EQ(0, std::memcmp(norm_part.data(), norm.as<float>() + 16, 32 * sizeof(float)));
  // The whole shape is still checked, and parts stay inside it.
  EXPECT_EQ(provider->load_part(name, Shape{64, 161}, {0, 64}, {0, 80}, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(provider->load_part(name, shape, {0, 65}, {0, 80}, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(provider->load_part(name, shape, {0, 8}, {100, 200}, {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(WeightParts, RandomWeightsCutFromTheSameDraws) {
  auto backend = create_backend("cpu", {.n_threads = 1}).value();
  for (DType dtype : {DType::kBF16, DType::kQ8_0}) {
    auto a = make_random_weights(*backend, dtype, 7);
    auto b = make_random_weights(*backend, dtype, 7);
    const Shape shape{6, 128};
    const Tensor whole = a->load("w", shape, dtype).value();
    auto rows = b->load_part("w", shape, {2, 5}, {0, 128}, dtype);
    ASSERT_TRUE(rows.has_value()) << rows.status().to_string();
    const size_t row_bytes = dtype_bytes(dtype, 128);
    EXPECT_EQ(bytes(*rows), std::vector<uint8_t>(static_cast<const uint8_t*>(whole.data()) + 2 * row_bytes,
                                                 static_cast<const uint8_t*>(whole.data()) + 5 * row_bytes));
    // Columns of a block type: whole blocks only.
    auto c = make_random_weights(*backend, dtype, 7);
    auto cols = c->load_part("w", shape, {0, 6}, {32, 96}, dtype);
    ASSERT_TRUE(cols.has_value()) << cols.status().to_string();
    std::vector<uint8_t> want;
    for (int64_t r = 0; r < 6; ++r) {
      const auto* p = static_cast<const uint8_t*>(whole.data()) + r * row_bytes + dtype_bytes(dtype, 32);
      want.insert(want.end(), p, p + dtype_bytes(dtype, 64));
    }
    EXPECT_EQ(bytes(*cols), want);
    if (dtype == DType::kQ8_0) {
      auto d = make_random_weights(*backend, dtype, 7);
      EXPECT_EQ(d->load_part("w", shape, {0, 6}, {16, 80}, dtype).status().code(),
                StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace autoglm

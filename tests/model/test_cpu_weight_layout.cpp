// The CPU backend's interleaved storage of Q4_K matrices (model/cpu_weight_layout.h): which matrices are
// rewritten, that their views follow, and that a model loaded on the CPU uses it.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/cpu_weight_layout.h"
#include "model/model.h"
#include "support/test_data.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

Tensor q4k_matrix(int64_t rows, int64_t cols, uint64_t seed) {
  const Tensor values = test::random_tensor(DType::kF32, Shape{rows, cols}, seed);
  Tensor t = Tensor::host(DType::kQ4_K, Shape{rows, cols});
  EXPECT_TRUE(quantize_row(DType::kQ4_K, values.as<float>(), t.data(), rows * cols).is_ok());
  return t;
}

// Rows [begin, end) of t, sharing its storage (as the loader's fused q/k/v parts do).
Tensor row_view(const Tensor& t, int64_t begin, int64_t end) {
  const TensorView v = t.view().rows(begin, end);
  return Tensor(std::shared_ptr<void>(t.storage(), v.data), t.dtype(), v.shape, t.device());
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  return std::vector<uint8_t>(p, p + t.nbytes());
}

TEST(CpuWeightLayout, InterleavesWholeGroupsAndTheirViews) {
  DecoderWeights w;
  w.embed = q4k_matrix(64, 256, 1);
  w.lm_head = w.embed;  // tied: row lookups need the plain layout
  w.layers.resize(2);
  DecoderLayerWeights& a = w.layers[0];
  a.w_qkv = q4k_matrix(40, 256, 2);
  a.wq = row_view(a.w_qkv, 0, 24);
  a.wk = row_view(a.w_qkv, 24, 32);
  a.wv = row_view(a.w_qkv, 32, 40);
  a.wo = test::random_tensor(DType::kF32, Shape{24, 24}, 3);
  a.w_gate_up = q4k_matrix(16, 256, 4);
  a.w_down = q4k_matrix(12, 256, 5);  // 12 rows: not whole groups
  DecoderLayerWeights& b = w.layers[1];
  b.w_qkv = q4k_matrix(16, 256, 6);  // whole groups, but the parts split inside a group
  b.wq = row_view(b.w_qkv, 0, 4);
  b.wk = row_view(b.w_qkv, 4, 12);
  b.wv = row_view(b.w_qkv, 12, 16);

  std::vector<uint8_t> qkv_expected = bytes_of(a.w_qkv);
  ASSERT_TRUE(repack_q4_k_x8(qkv_expected.data(), 40, 256).is_ok());
  const void* wk_data = a.wk.data();
  const std::vector<uint8_t> b_before = bytes_of(b.w_qkv), down_before = bytes_of(a.w_down);

  ASSERT_TRUE(interleave_cpu_matrices(w).is_ok());
  EXPECT_EQ(a.w_qkv.dtype(), DType::kQ4_Kx8);
  EXPECT_EQ(bytes_of(a.w_qkv), qkv_expected);
  for (const Tensor* part : {&a.wq, &a.wk, &a.wv})
    EXPECT_EQ(part->dtype(), DType::kQ4_Kx8);
  EXPECT_EQ(a.wk.data(), wk_data);
  EXPECT_EQ(a.wk.shape(), (Shape{8, 256}));
  EXPECT_EQ(a.w_gate_up.dtype(), DType::kQ4_Kx8);
  EXPECT_EQ(a.wo.dtype(), DType::kF32);
  EXPECT_EQ(a.w_down.dtype(), DType::kQ4_K);
  EXPECT_EQ(bytes_of(a.w_down), down_before);
  EXPECT_EQ(b.w_qkv.dtype(), DType::kQ4_K);
  EXPECT_EQ(b.wk.dtype(), DType::kQ4_K);
  EXPECT_EQ(bytes_of(b.w_qkv), b_before);
  EXPECT_EQ(w.embed.dtype(), DType::kQ4_K);
  EXPECT_EQ(w.lm_head.dtype(), DType::kQ4_K);
}

TEST(CpuWeightLayout, AQ4KModelOnTheCpuRunsInterleaved) {
  auto backend = create_backend("cpu", {.n_threads = 2});
  ASSERT_TRUE(backend.has_value());
  auto model = Model::load(std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/gguf/q4k-q4_k.gguf", **backend, {});
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  const DecoderWeights& w = (*model)->weights();
  EXPECT_EQ((*model)->weight_dtype(), DType::kQ4_K);  // what the file holds
  EXPECT_EQ(w.embed.dtype(), DType::kQ4_K);
  EXPECT_EQ(w.lm_head.dtype(), DType::kQ4_Kx8);
  for (const DecoderLayerWeights& l : w.layers) {
    EXPECT_EQ(l.w_gate_up.dtype(), DType::kQ4_Kx8);
    EXPECT_EQ(l.w_down.dtype(), DType::kQ4_Kx8);
    EXPECT_EQ(l.wo.dtype(), DType::kQ4_Kx8);
    EXPECT_EQ(l.wq.dtype(), DType::kQ4_Kx8);
  }
}

}  // namespace
}  // namespace autoglm

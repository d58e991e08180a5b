// The CPU embedding against its scalar reference (kernels/ref/embedding_ref.cpp): exact, since the gather
// only widens; guard elements around the output, NaN poisoning inside it, and the op's id range check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/ref/embedding_ref.h"
#include "ops/embedding.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

constexpr int64_t kGuard = 32;
constexpr uint32_t kSentinelBits = 0x7fc0dead;
constexpr uint32_t kPoisonBits = 0xffc0beef;

Tensor make_ids(const std::vector<int32_t>& values) {
  Tensor ids = Tensor::host(DType::kI32, Shape{static_cast<int64_t>(values.size())});
  if (!values.empty()) std::memcpy(ids.data(), values.data(), values.size() * sizeof(int32_t));
  return ids;
}

// t ids in [0, vocab) with both ends of the range always present.
std::vector<int32_t> random_ids(int64_t t, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(t));
  for (auto& id : ids)
    id = dist(rng);
  ids[0] = 0;
  if (t > 1) ids[static_cast<size_t>(t - 1)] = static_cast<int32_t>(vocab - 1);
  if (t > 2) ids[1] = static_cast<int32_t>(vocab - 1);  // a repeated id
  return ids;
}

struct Vtd {
  int64_t vocab, t, d;
};

const Vtd kShapes[] = {{1, 1, 1}, {10, 1, 7}, {100, 7, 33}, {1000, 129, 768}, {32, 300, 256}, {5, 3, 0}};

using EmbeddingParam = std::tuple<DType, int>;

class EmbeddingTest : public ::testing::TestWithParam<EmbeddingParam> {};

TEST_P(EmbeddingTest, MatchesReferenceExactly) {
  const auto [dtype, shape_index] = GetParam();
  const Vtd s = kShapes[shape_index];
  CpuBackend backend(BackendOptions{.n_threads = 2});
  Tensor table = test::random_tensor(dtype, Shape{s.vocab, s.d}, 10 + shape_index);
  Tensor ids = make_ids(random_ids(s.t, s.vocab, 20 + shape_index));

  const int64_t numel = s.t * s.d;
  std::vector<uint32_t> storage(static_cast<size_t>(numel + 2 * kGuard), kSentinelBits);
  for (int64_t i = 0; i < numel; ++i)
    storage[kGuard + i] = kPoisonBits;
  const TensorView out{storage.data() + kGuard, DType::kF32, Shape{s.t, s.d}, Device{}};
  ASSERT_TRUE(embedding(backend, {ids.view(), table.view(), out}).is_ok());

  Tensor expected = Tensor::host(DType::kF32, Shape{s.t, s.d});
  embedding_ref({ids.view(), table.view(), expected.view()});
  for (int64_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(storage[i], kSentinelBits) << "guard before the output overwritten at " << i;
    ASSERT_EQ(storage[kGuard + numel + i], kSentinelBits) << "guard after the output overwritten at " << i;
  }
  for (int64_t i = 0; i < numel; ++i) {
    float got;
    std::memcpy(&got, &storage[kGuard + i], 4);
    ASSERT_TRUE(std::isfinite(got)) << "output element " << i << " not written";
    ASSERT_EQ(got, expected.as<float>()[i]) << "element " << i;
  }
}

std::string param_name(const ::testing::TestParamInfo<EmbeddingParam>& info) {
  const auto [dtype, shape_index] = info.param;
  const Vtd s = kShapes[shape_index];
  return std::string(dtype_name(dtype)) + "_v" + std::to_string(s.vocab) + "_t" + std::to_string(s.t) + "_d" +
         std::to_string(s.d);
}

INSTANTIATE_TEST_SUITE_P(Cpu, EmbeddingTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                                            ::testing::Range(0, static_cast<int>(std::size(kShapes)))),
                         param_name);

class EmbeddingErrorTest : public ::testing::TestWithParam<DType> {
 protected:
  static constexpr int64_t kVocab = 50, kDim = 16;
  CpuBackend backend_{BackendOptions{.n_threads = 2}};
  Tensor table_ = test::random_tensor(GetParam(), Shape{kVocab, kDim}, 3);
  Tensor out_ = Tensor::host(DType::kF32, Shape{3, kDim});
};

TEST_P(EmbeddingErrorTest, RejectsIdsOutsideTheVocabulary) {
  for (const int32_t bad : {-1, static_cast<int32_t>(kVocab), static_cast<int32_t>(kVocab) + 1000}) {
    Tensor ids = make_ids({0, bad, 1});
    const Status s = embedding(backend_, {ids.view(), table_.view(), out_.view()});
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.to_string();
    EXPECT_NE(s.message().find(std::to_string(bad)), std::string::npos) << s.message();
  }
}

TEST_P(EmbeddingErrorTest, AcceptsBothEndsOfTheVocabulary) {
  Tensor ids = make_ids({0, static_cast<int32_t>(kVocab - 1), 0});
  EXPECT_TRUE(embedding(backend_, {ids.view(), table_.view(), out_.view()}).is_ok());
}

TEST_P(EmbeddingErrorTest, RejectsMalformedArguments) {
  Tensor ids = make_ids({0, 1, 2});
  Tensor float_ids = test::random_tensor(DType::kF32, Shape{3}, 4);
  Tensor wrong_out = Tensor::host(DType::kF32, Shape{3, kDim + 1});
  Tensor ids_2d = Tensor::host(DType::kI32, Shape{1, 3});
  std::memset(ids_2d.data(), 0, ids_2d.nbytes());
  EXPECT_EQ(embedding(backend_, {float_ids.view(), table_.view(), out_.view()}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(embedding(backend_, {ids.view(), table_.view(), wrong_out.view()}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(embedding(backend_, {ids_2d.view(), table_.view(), out_.view()}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      embedding(backend_, {ids.view(), table_.view().reshaped(Shape{kVocab * kDim}), out_.view()}).code(),
      StatusCode::kInvalidArgument);
}

TEST_P(EmbeddingErrorTest, RejectsOutOverlappingItsInputs) {
  Tensor ids = make_ids({0, 1, 2});
  const TensorView out_in_table{table_.as<uint8_t>() + 8, DType::kF32, Shape{3, kDim}, Device{}};
  EXPECT_EQ(embedding(backend_, {ids.view(), table_.view(), out_in_table}).code(),
            StatusCode::kInvalidArgument);
  Tensor ids_and_out = Tensor::host(DType::kI32, Shape{3 * kDim});
  std::memset(ids_and_out.data(), 0, ids_and_out.nbytes());
  const TensorView ids_view = ids_and_out.view().rows(0, 3);
  const TensorView out_over_ids{ids_and_out.data(), DType::kF32, Shape{3, kDim}, Device{}};
  EXPECT_EQ(embedding(backend_, {ids_view, table_.view(), out_over_ids}).code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Cpu, EmbeddingErrorTest, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

TEST(EmbeddingUnsupported, RejectsI32Tables) {
  CpuBackend backend(BackendOptions{.n_threads = 2});
  Tensor table = Tensor::host(DType::kI32, Shape{4, 4});
  std::memset(table.data(), 0, table.nbytes());
  Tensor ids = make_ids({1});
  Tensor out = Tensor::host(DType::kF32, Shape{1, 4});
  EXPECT_EQ(embedding(backend, {ids.view(), table.view(), out.view()}).code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace autoglm

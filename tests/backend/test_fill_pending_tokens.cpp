// fill_pending_tokens on the CPU backend: negative ids take the earlier step's choices, others stay;
// an index past the choices gives 0; errors for bad shapes and types. And Backend::copy_to_host_async's
// default (an immediate copy).
#include <gtest/gtest.h>

#include <vector>

#include "ops/fill_pending_tokens.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

TensorView ids_view(std::vector<int32_t>& v) {
  return TensorView{v.data(), DType::kI32, Shape{static_cast<int64_t>(v.size())}, Device{}};
}

TEST(FillPendingTokens, TakesTheRowsOfTheEarlierStep) {
  auto cpu = make_cpu();
  std::vector<int32_t> choices = {70, 71, 72, 73};
  std::vector<int32_t> ids = {5, -1, 9, -4, -3, 0, -2, -5};
  ASSERT_TRUE(fill_pending_tokens(*cpu, {ids_view(ids), ids_view(choices)}).is_ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{5, 70, 9, 73, 72, 0, 71, 0}));
  EXPECT_EQ(choices, (std::vector<int32_t>{70, 71, 72, 73}));
}

TEST(FillPendingTokens, NothingPendingOrNothingToFill) {
  auto cpu = make_cpu();
  std::vector<int32_t> empty;
  std::vector<int32_t> ids = {3, 4};
  ASSERT_TRUE(fill_pending_tokens(*cpu, {ids_view(ids), ids_view(empty)}).is_ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{3, 4}));
  ASSERT_TRUE(fill_pending_tokens(*cpu, {ids_view(empty), ids_view(ids)}).is_ok());
}

TEST(FillPendingTokens, RejectsBadArguments) {
  auto cpu = make_cpu();
  std::vector<int32_t> ids = {-1, 2};
  std::vector<float> floats = {1.0f};
  const TensorView f{floats.data(), DType::kF32, Shape{1}, Device{}};
  EXPECT_EQ(fill_pending_tokens(*cpu, {f, ids_view(ids)}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fill_pending_tokens(*cpu, {ids_view(ids), f}).code(), StatusCode::kInvalidArgument);
  const TensorView matrix{ids.data(), DType::kI32, Shape{1, 2}, Device{}};
  EXPECT_EQ(fill_pending_tokens(*cpu, {matrix, ids_view(ids)}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fill_pending_tokens(*cpu, {ids_view(ids), ids_view(ids)}).code(), StatusCode::kInvalidArgument);
}

TEST(CopyToHostAsync, TheDefaultCopiesAtOnce) {
  auto cpu = make_cpu();
  std::vector<int32_t> src = {1, 2, 3};
  std::vector<int32_t> dst(3, 0);
  Expected<std::unique_ptr<PendingCopy>> copy = cpu->copy_to_host_async(ids_view(dst), ids_view(src));
  ASSERT_TRUE(copy.has_value()) << copy.status().to_string();
  EXPECT_EQ(dst, src);
  EXPECT_TRUE((*copy)->wait().is_ok());
  std::vector<int32_t> short_dst(2);
  EXPECT_FALSE(cpu->copy_to_host_async(ids_view(short_dst), ids_view(src)).has_value());
}

}  // namespace
}  // namespace autoglm

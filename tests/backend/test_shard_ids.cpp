// shard_ids on the CPU: ids of the rank's range move to its rows, every other id to the zero row after
// them; in place or not; an empty range is refused.
#include <gtest/gtest.h>

#include <vector>

#include "ops/shard_ids.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

TensorView view(std::vector<int32_t>& v) {
  return TensorView{v.data(), DType::kI32, Shape{static_cast<int64_t>(v.size())}, Device{}};
}

TEST(ShardIds, MapsTheRangeAndSendsTheRestToTheZeroRow) {
  auto cpu = make_cpu();
  std::vector<int32_t> ids = {0, 511, 512, 700, 1023, 1024, 5};
  std::vector<int32_t> out(ids.size(), -1);
  ASSERT_TRUE(shard_ids(*cpu, {view(ids), 512, 1024, view(out)}).is_ok());
  EXPECT_EQ(out, (std::vector<int32_t>{512, 512, 0, 188, 511, 512, 512}));
  ASSERT_TRUE(shard_ids(*cpu, {view(ids), 0, 512, view(ids)}).is_ok());  // in place
  EXPECT_EQ(ids, (std::vector<int32_t>{0, 511, 512, 512, 512, 512, 5}));
  EXPECT_EQ(shard_ids(*cpu, {view(ids), 4, 4, view(out)}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

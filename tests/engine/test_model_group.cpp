// ModelGroup: every rank runs each job at once; a rank that fails while the others wait in a collective
// aborts the group instead of leaving them waiting, the cause is reported, and the group refuses later jobs.
#include "engine/model_group.h"

#include <gtest/gtest.h>

#include <atomic>

#include "graph/executor.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::unique_ptr<ModelGroup> llama_group(int world) {
  auto group = ModelGroup::create({"cpu"}, {.n_threads = 2}, world,
                                  [](Backend& backend, const ParallelOptions& parallel) {
                                    ModelLoadOptions options;
                                    options.parallel = parallel;
                                    return Model::load(test::fixture_dir("llama"), backend, options);
                                  });
  EXPECT_TRUE(group.has_value()) << group.status().to_string();
  return group.has_value() ? std::move(group).value() : nullptr;
}

Status forward(ModelGroup& group, int rank, std::vector<int32_t> tokens) {
  Model& model = group.model(rank);
  Executor executor(group.backend(rank));
  AUTOGLM_ASSIGN_OR_RETURN(KvCache cache, KvCache::create(group.backend(rank), model.local_config(), 64));
  return model.forward(executor, cache, tokens).status();
}

TEST(ModelGroup, EveryRankRunsEachJob) {
  auto group = llama_group(2);
  ASSERT_NE(group, nullptr);
  std::atomic<int> ran{0};
  for (int k = 0; k < 5; ++k) {
    ASSERT_TRUE(group
                    ->run([&](int r) {
                      ++ran;
                      return forward(*group, r, {1, 2, 3});
                    })
                    .is_ok());
  }
  EXPECT_EQ(ran.load(), 10);
}

TEST(ModelGroup, ARankThatFailsBeforeACollectiveDoesNotLeaveTheOthersWaiting) {
  auto group = llama_group(2);
  ASSERT_NE(group, nullptr);
  // Rank 1 fails before its first collective; rank 0 waits in the embedding's all-reduce until the abort.
  const Status s = group->run([&](int r) -> Status {
    if (r == 1) return invalid_argument("rank 1 cannot take this step");
    return forward(*group, r, {1, 2, 3});
  });
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("rank 1 cannot take this step"), std::string::npos) << s.to_string();
  const Status later = group->run([&](int r) { return forward(*group, r, {4}); });
  EXPECT_FALSE(later.is_ok());
  EXPECT_NE(later.message().find("stopped"), std::string::npos) << later.to_string();
}

TEST(ModelGroup, RefusesAnEmptyGroup) {
  EXPECT_EQ(ModelGroup::create("cpu", {}, 0, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoglm

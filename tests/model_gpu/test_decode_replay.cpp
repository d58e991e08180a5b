// Decode steps replayed from a recording (CUDA graphs) compute exactly what launching every kernel does:
// bit-identical logits for many steps (the recording reads the new token and position from device memory).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "graph/executor.h"
#include "model/model.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

std::vector<std::vector<float>> decode_logits(Model& model, const std::vector<int32_t>& prompt, int steps) {
  Executor executor(model.backend());
  auto cache = KvCache::create(model.backend(), model.config(), 128, model.kv_dtype()).value();
  std::vector<std::vector<float>> all;
  std::vector<int32_t> step = prompt;
  for (int i = 0; i < steps; ++i) {
    auto logits = model.forward(executor, cache, step);
    EXPECT_TRUE(logits.has_value()) << logits.status().to_string();
    if (!logits) break;
    Tensor host = Tensor::host(DType::kF32, logits->shape);
    EXPECT_TRUE(model.backend().copy(host.view(), *logits).is_ok());
    std::vector<float> row = test::to_f32(host.view());
    step = {static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin())};
    all.push_back(std::move(row));
  }
  return all;
}

TEST(DecodeReplay, ReplayedStepsEqualLaunchedSteps) {
  for (const char* name : {"llama3", "qwen3", "glm4"}) {
    const test::GoldenFixture f = test::load_golden(name);
    auto backend = create_backend("cuda");
    ASSERT_TRUE(backend.has_value()) << backend.status().to_string();
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      auto model = Model::load(f.dir, **backend, {.weight_dtype = dtype, .parallel = {}});
      ASSERT_TRUE(model.has_value()) << model.status().to_string();
      (*model)->set_replay_decode(false);
      const auto launched = decode_logits(**model, f.prompts[1].ids, 24);
      (*model)->set_replay_decode(true);
      const auto replayed = decode_logits(**model, f.prompts[1].ids, 24);
      ASSERT_EQ(launched.size(), replayed.size());
      for (size_t i = 0; i < launched.size(); ++i)
        ASSERT_EQ(launched[i], replayed[i]) << name << " " << dtype_name(dtype) << " step " << i;
    }
  }
}

}  // namespace
}  // namespace autoglm

// Recording work for replay (CUDA graphs): a replay recomputes from the memory's current contents, a failed
// recording leaves the backend usable, and regrown scratch marks older recordings stale.
#include <gtest/gtest.h>

#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_harness.h"
#include "ops/add.h"
#include "ops/rms_norm.h"

namespace autoglm {
namespace {

Tensor host_values(std::vector<float> v) {
  Tensor t = Tensor::host(DType::kF32, Shape{static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.as<float>());
  return t;
}

TEST(CudaCapture, ReplayRecomputesFromCurrentInputs) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  Tensor a = test::to_device(*cuda, host_values({1, 2, 3}));
  Tensor b = test::to_device(*cuda, host_values({10, 20, 30}));
  Tensor out = test::to_device(*cuda, host_values({0, 0, 0}));
  auto work = cuda->capture([&] {
    AUTOGLM_RETURN_IF_ERROR(add(*cuda, {a.view(), b.view(), out.view()}));
    return add(*cuda, {out.view(), b.view(), out.view()});  // out = a + 2b
  });
  ASSERT_TRUE(work.has_value()) << work.status().to_string();
  // Recording runs nothing.
  EXPECT_EQ(test::to_f32(test::to_host(*cuda, out.view()).view()), (std::vector<float>{0, 0, 0}));
  ASSERT_TRUE((*work)->replay().is_ok());
  EXPECT_EQ(test::to_f32(test::to_host(*cuda, out.view()).view()), (std::vector<float>{21, 42, 63}));
  ASSERT_TRUE(cuda->copy(a.view(), host_values({-1, -2, -3}).view()).is_ok());
  ASSERT_TRUE((*work)->replay().is_ok());
  EXPECT_EQ(test::to_f32(test::to_host(*cuda, out.view()).view()), (std::vector<float>{19, 38, 57}));
  EXPECT_TRUE(cuda->synchronize().is_ok());
}

TEST(CudaCapture, FailedRecordingLeavesTheBackendUsable) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  Tensor a = test::to_device(*cuda, host_values({1, 2}));
  auto failed = cuda->capture([&] { return invalid_argument("the step failed"); });
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.status().to_string().find("the step failed"), std::string::npos);
  // A host copy is not recordable: the recording fails, the stream works afterwards.
  Tensor host = Tensor::host(DType::kF32, Shape{2});
  auto with_copy = cuda->capture([&] { return cuda->copy(host.view(), a.view()); });
  EXPECT_FALSE(with_copy.has_value());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  Tensor out = test::to_device(*cuda, host_values({0, 0}));
  ASSERT_TRUE(add(*cuda, {a.view(), a.view(), out.view()}).is_ok());
  EXPECT_EQ(test::to_f32(test::to_host(*cuda, out.view()).view()), (std::vector<float>{2, 4}));
}

TEST(CudaCapture, RegrownScratchChangesTheMemoryGeneration) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  auto& backend = static_cast<CudaBackend&>(*cuda);
  backend.scratch(1024);
  const uint64_t g = backend.memory_generation();
  backend.scratch(512);  // fits: same block
  EXPECT_EQ(backend.memory_generation(), g);
  backend.scratch(size_t{64} << 20);
  EXPECT_GT(backend.memory_generation(), g);
}

}  // namespace
}  // namespace autoglm

// The GPU power reader against the real driver (backend/gpu_power.h; its logic is tested on a stand-in
// library in tests/backend/test_gpu_power.cpp).
#include "backend/gpu_power.h"

#include <gtest/gtest.h>

#include "cuda/cuda_harness.h"

namespace autoglm {
namespace {

TEST(CudaGpuPower, ReadsTheBackendsDevice) {
  const std::unique_ptr<Backend> cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  const std::string id = cuda->pci_bus_id();
  ASSERT_FALSE(id.empty());
  auto reader = GpuPowerReader::open({id});
  ASSERT_TRUE(reader) << reader.status().to_string();
  std::vector<GpuPowerSample> samples;
  ASSERT_TRUE((*reader)->read(&samples));
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_GT(samples[0].watts, 10.0);
  EXPECT_GT(samples[0].limit_watts, samples[0].watts * 0.5);
  EXPECT_GT(samples[0].sm_mhz, 0.0);
  EXPECT_GE(samples[0].max_sm_mhz, samples[0].sm_mhz);
  std::printf("%s\n", format_gpu_power(summarize_gpu_power(id, samples)).c_str());
}

}  // namespace
}  // namespace autoglm

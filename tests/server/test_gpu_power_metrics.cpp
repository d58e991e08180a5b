// The server's GPU power gauges over the stand-in NVML library (tests/support/fake_nvml).
#include "gpu_power_metrics.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>

namespace autoglm::server {
namespace {

// The fake library's control: every power reading from the n-th on fails (-1: none).
void fail_from(long n) {
  void* library = dlopen(AUTOGLM_FAKE_NVML, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr);
  auto set = reinterpret_cast<void (*)(long)>(dlsym(library, "fake_nvml_fail_from"));
  ASSERT_NE(set, nullptr);
  set(n);
  dlclose(library);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(GpuPowerMetrics, GaugesPerDeviceAtEachRefresh) {
  auto reader = GpuPowerReader::open({"0000:01:00.0", "0000:02:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  fail_from(-1);
  MetricsRegistry registry;
  GpuPowerMetrics metrics(registry, {{"model_name", "m"}}, std::move(reader).value());
  metrics.refresh();
  const std::string text = registry.render();
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_watts{model_name="m",gpu="0000:01:00.0"} 690)")) << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_watts{model_name="m",gpu="0000:02:00.0"} 100)")) << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_limit_watts{model_name="m",gpu="0000:01:00.0"} 700)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_capped{model_name="m",gpu="0000:01:00.0"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_capped{model_name="m",gpu="0000:02:00.0"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_sm_clock_mhz{model_name="m",gpu="0000:02:00.0"} 1980)")) << text;
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_read_errors_total{model_name="m"} 0)")) << text;
}

TEST(GpuPowerMetrics, AFailedReadingCountsAndKeepsTheGauges) {
  auto reader = GpuPowerReader::open({"0000:01:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  fail_from(1);
  MetricsRegistry registry;
  GpuPowerMetrics metrics(registry, {}, std::move(reader).value());
  metrics.refresh();
  metrics.refresh();
  metrics.refresh();
  const std::string text = registry.render();
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_watts{gpu="0000:01:00.0"} 690)")) << text;
  EXPECT_TRUE(has_line(text, "autoglm:gpu_power_read_errors_total 2")) << text;
  fail_from(-1);
}

TEST(GpuPowerMetrics, NoReaderNoFamilies) {
  MetricsRegistry registry;
  GpuPowerMetrics metrics(registry, {}, nullptr);
  metrics.refresh();
  EXPECT_EQ(registry.render().find("gpu"), std::string::npos);
  EXPECT_EQ(open_gpu_power_reader({}), nullptr);
}

}  // namespace
}  // namespace autoglm::server

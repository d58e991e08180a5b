// The server's GPU power gauges over the stand-in NVML library (tests/support/fake_nvml).
#include "gpu_power_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "support/fake_nvml/fake_nvml_control.h"

namespace autoglm::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(GpuPowerMetrics, GaugesPerDeviceAtEachRefresh) {
  auto reader = GpuPowerReader::open({"0000:01:00.0", "0000:02:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  test::fake_nvml_fail_from(-1);
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
  test::fake_nvml_fail_from(1);
  MetricsRegistry registry;
  GpuPowerMetrics metrics(registry, {}, std::move(reader).value());
  metrics.refresh();
  metrics.refresh();
  metrics.refresh();
  const std::string text = registry.render();
  EXPECT_TRUE(has_line(text, R"(autoglm:gpu_power_watts{gpu="0000:01:00.0"} 690)")) << text;
  EXPECT_TRUE(has_line(text, "autoglm:gpu_power_read_errors_total 2")) << text;
  test::fake_nvml_fail_from(-1);
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

#include "backend/gpu_power.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/fake_nvml/fake_nvml_control.h"

namespace autoglm {
namespace {

GpuPowerSample sample(double watts, double mhz, uint64_t reasons, double seconds = 0) {
  GpuPowerSample s;
  s.seconds = seconds;
  s.watts = watts;
  s.limit_watts = 700;
  s.sm_mhz = mhz;
  s.max_sm_mhz = 1980;
  s.reasons = reasons;
  return s;
}

TEST(GpuPowerSummary, MeansExtremesAndSharesOfTheSamples) {
  const GpuPowerSummary s = summarize_gpu_power(
      "0000:01:00.0",
      {sample(690, 1500, kGpuSwPowerCap, 0.5), sample(700, 1400, kGpuSwPowerCap | kGpuSwThermal, 1.5),
       sample(300, 1980, 0, 2.5), sample(610, 1700, kGpuHwPowerBrake, 4.5)});
  EXPECT_EQ(s.device, "0000:01:00.0");
  EXPECT_EQ(s.samples, 4);
  EXPECT_DOUBLE_EQ(s.mean_watts, 575);
  EXPECT_DOUBLE_EQ(s.max_watts, 700);
  EXPECT_DOUBLE_EQ(s.limit_watts, 700);
  EXPECT_DOUBLE_EQ(s.mean_sm_mhz, 1645);
  EXPECT_DOUBLE_EQ(s.min_sm_mhz, 1400);
  EXPECT_DOUBLE_EQ(s.max_sm_mhz, 1980);
  EXPECT_DOUBLE_EQ(s.device_max_sm_mhz, 1980);
  EXPECT_DOUBLE_EQ(s.power_capped, 0.75);  // the software cap twice, the power brake once
  EXPECT_DOUBLE_EQ(s.slowdown, 0.25);
  EXPECT_DOUBLE_EQ(s.seconds, 4.0);
  EXPECT_DOUBLE_EQ(s.joules, 695.0 + 500.0 + 910.0);  // trapezoids: 1 s, 1 s and 2 s
  const std::string line = format_gpu_power(s);
  EXPECT_NE(line.find("575 W mean"), std::string::npos) << line;
  EXPECT_NE(line.find("limit 700 W"), std::string::npos) << line;
  EXPECT_NE(line.find("1645 MHz mean (1400-1980 of 1980)"), std::string::npos) << line;
  EXPECT_NE(line.find("power-capped in 75%"), std::string::npos) << line;
  EXPECT_NE(line.find("; 2.10 kJ over 4.0 s"), std::string::npos) << line;
}

TEST(GpuPowerSummary, NoSamplesSaySo) {
  const GpuPowerSummary s = summarize_gpu_power("0000:01:00.0", {});
  EXPECT_EQ(s.samples, 0);
  EXPECT_EQ(format_gpu_power(s), "GPU 0000:01:00.0: no power samples");
}

// Two windows merged give the summary of their samples as one series, except for the time between them.
TEST(GpuPowerSummary, MergedWindowsAreTheirSamplesTogether) {
  const std::vector<GpuPowerSample> a = {sample(690, 1500, kGpuSwPowerCap, 0.5),
                                         sample(700, 1400, kGpuSwPowerCap, 1.5)};
  const std::vector<GpuPowerSample> b = {sample(300, 1980, 0, 7.0), sample(610, 1700, kGpuSwThermal, 8.0),
                                         sample(500, 1800, 0, 9.0)};
  const GpuPowerSummary m =
      merge_gpu_power({summarize_gpu_power("0000:01:00.0", a), summarize_gpu_power("0000:01:00.0", {}),
                       summarize_gpu_power("0000:01:00.0", b)});
  EXPECT_EQ(m.device, "0000:01:00.0");
  EXPECT_EQ(m.samples, 5);
  EXPECT_DOUBLE_EQ(m.mean_watts, (690.0 + 700 + 300 + 610 + 500) / 5);
  EXPECT_DOUBLE_EQ(m.mean_sm_mhz, (1500.0 + 1400 + 1980 + 1700 + 1800) / 5);
  EXPECT_DOUBLE_EQ(m.min_sm_mhz, 1400);
  EXPECT_DOUBLE_EQ(m.max_sm_mhz, 1980);
  EXPECT_DOUBLE_EQ(m.max_watts, 700);
  EXPECT_DOUBLE_EQ(m.power_capped, 0.4);
  EXPECT_DOUBLE_EQ(m.slowdown, 0.2);
  EXPECT_DOUBLE_EQ(m.seconds, 1.0 + 2.0);               // 5.5 s between the windows left out
  EXPECT_DOUBLE_EQ(m.joules, 695.0 + (455.0 + 555.0));  // each window's trapezoids
  EXPECT_EQ(merge_gpu_power({}).samples, 0);
}

TEST(GpuPowerReader, NeedsADevice) {
  auto reader = GpuPowerReader::open({}, AUTOGLM_FAKE_NVML);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
}

TEST(GpuPowerReader, AMissingLibraryIsAClearError) {
  auto reader = GpuPowerReader::open({"0000:01:00.0"}, "/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(reader.status().message().find("/nonexistent/libnvidia-ml.so.1"), std::string::npos);
}

TEST(GpuPowerReader, ALibraryWithoutTheEntryPointsIsRefused) {
  auto reader = GpuPowerReader::open({"0000:01:00.0"}, "libm.so.6");
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(reader.status().message().find("entry point"), std::string::npos) << reader.status().to_string();
}

TEST(GpuPowerReader, AnUnknownDeviceIsNamed) {
  auto reader = GpuPowerReader::open({"0000:01:00.0", "0000:09:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("0000:09:00.0: Not Found"), std::string::npos)
      << reader.status().to_string();
}

TEST(GpuPowerReader, ReadsEveryDeviceInOrder) {
  auto reader = GpuPowerReader::open({"0000:02:00.0", "0000:01:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  test::fake_nvml_fail_from(-1);
  std::vector<GpuPowerSample> samples;
  ASSERT_TRUE((*reader)->read(&samples));
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_DOUBLE_EQ(samples[0].watts, 100);
  EXPECT_DOUBLE_EQ(samples[0].sm_mhz, 1980);
  EXPECT_EQ(samples[0].reasons, 0u);
  EXPECT_DOUBLE_EQ(samples[1].watts, 690);
  EXPECT_DOUBLE_EQ(samples[1].limit_watts, 700);
  EXPECT_DOUBLE_EQ(samples[1].max_sm_mhz, 1980);
  EXPECT_EQ(samples[1].reasons, kGpuSwPowerCap);
}

TEST(GpuPowerReader, ADriverThatStopsAnsweringIsAnError) {
  auto reader = GpuPowerReader::open({"0000:01:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  test::fake_nvml_fail_from(1);
  std::vector<GpuPowerSample> samples;
  EXPECT_TRUE((*reader)->read(&samples));
  const Status second = (*reader)->read(&samples);
  EXPECT_EQ(second.code(), StatusCode::kIoError);
  EXPECT_NE(second.message().find("0000:01:00.0"), std::string::npos) << second.to_string();
  test::fake_nvml_fail_from(-1);
}

TEST(GpuPowerMonitor, SummarizesEachDeviceOverTheRun) {
  auto reader = GpuPowerReader::open({"0000:01:00.0", "0000:02:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  test::fake_nvml_fail_from(-1);
  GpuPowerMonitor monitor(std::move(reader).value(), std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<GpuPowerSummary> s = monitor.stop();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].device, "0000:01:00.0");
  EXPECT_GE(s[0].samples, 2);
  EXPECT_EQ(s[0].samples, s[1].samples);
  EXPECT_DOUBLE_EQ(s[0].mean_watts, 690);
  EXPECT_DOUBLE_EQ(s[0].min_sm_mhz, 1500);
  EXPECT_DOUBLE_EQ(s[0].max_sm_mhz, 1700);
  EXPECT_DOUBLE_EQ(s[0].power_capped, 1.0);
  EXPECT_GT(s[0].seconds, 0.0);
  EXPECT_NEAR(s[0].joules, 690 * s[0].seconds, 1e-6);  // a constant draw over the sampled seconds
  EXPECT_DOUBLE_EQ(s[1].mean_sm_mhz, 1980);
  EXPECT_DOUBLE_EQ(s[1].power_capped, 0.0);
  EXPECT_TRUE(monitor.failure());
  EXPECT_EQ(monitor.stop().size(), 2u);  // a second stop (and the destructor) change nothing
}

TEST(GpuPowerMonitor, KeepsTheSamplesTakenBeforeTheDriverFailed) {
  auto reader = GpuPowerReader::open({"0000:01:00.0"}, AUTOGLM_FAKE_NVML);
  ASSERT_TRUE(reader) << reader.status().to_string();
  test::fake_nvml_fail_from(3);
  GpuPowerMonitor monitor(std::move(reader).value(), std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<GpuPowerSummary> s = monitor.stop();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].samples, 3);
  EXPECT_EQ(monitor.failure().code(), StatusCode::kIoError);
  test::fake_nvml_fail_from(-1);
}

}  // namespace
}  // namespace autoglm

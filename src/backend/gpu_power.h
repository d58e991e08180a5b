// What a GPU draws and how fast it clocks while work runs, read from the driver's management library (NVML,
// loaded at run time: a build or a machine without it gets a clear reason, never a missing-symbol failure).
//
// Why a benchmark needs it: an H100 held at its power limit (700 W) by a long serving run lowers its SM
// clock to 1,400-1,750 MHz, so the tensor cores give ~630-670 TFLOP/s on real data instead of the ~790-800
// a short GEMM on a cool device shows (docs/BENCHMARKS.md, "The power limit"). A throughput figure read
// without the clock beside it overstates what the kernels lack.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace autoglm {

// One reading of one GPU.
struct GpuPowerSample {
  double watts = 0;        // board power draw
  double limit_watts = 0;  // the enforced power limit
  double sm_mhz = 0;       // SM clock now
  double max_sm_mhz = 0;   // the SM clock the device can reach
  uint64_t reasons = 0;    // why the clocks are below their maximum (NVML's clock event reason bits)
  double seconds = 0;      // when it was taken (GpuPowerMonitor: since sampling began)
};

// Clock event reasons (NVML's bit values): the driver holding power under its limit, the power brake, and
// the slowdowns for heat or by the hardware.
inline constexpr uint64_t kGpuSwPowerCap = 0x4;
inline constexpr uint64_t kGpuHwSlowdown = 0x8;
inline constexpr uint64_t kGpuSwThermal = 0x20;
inline constexpr uint64_t kGpuHwThermal = 0x40;
inline constexpr uint64_t kGpuHwPowerBrake = 0x80;

// The power limit (or the power brake) is what holds this sample's clocks down.
inline bool power_capped(const GpuPowerSample& s) {
  return (s.reasons & (kGpuSwPowerCap | kGpuHwPowerBrake)) != 0;
}
// Heat or the hardware slows this sample's clocks (thermal limits, HW slowdown).
inline bool slowed_down(const GpuPowerSample& s) {
  return (s.reasons & (kGpuSwThermal | kGpuHwThermal | kGpuHwSlowdown)) != 0;
}

// A series of samples of one GPU, summed up.
struct GpuPowerSummary {
  std::string device;  // its PCI bus id
  int64_t samples = 0;
  double mean_watts = 0, max_watts = 0, limit_watts = 0;
  double mean_sm_mhz = 0, min_sm_mhz = 0, max_sm_mhz = 0;  // of the samples
  double device_max_sm_mhz = 0;
  double power_capped = 0;  // share of the samples with the power limit (or power brake) lowering the clock
  double slowdown = 0;      // share slowed by heat or by the hardware (thermal limits, HW slowdown)
  double seconds = 0;       // from the first sample to the last
  double joules = 0;        // the power integrated over those seconds (trapezoids between samples)
};

// The summary of `samples` (all of one device, in the order taken); zero counts for none.
GpuPowerSummary summarize_gpu_power(const std::string& device, const std::vector<GpuPowerSample>& samples);

// The summary of several sampling windows of one device (e.g. the timed repetitions of a benchmark, with
// untimed work between them) as if their samples were one series: counts, seconds and joules add up, means
// and shares are weighted by the windows' samples, extremes are the windows' extremes. Windows without
// samples count for nothing; the device name is the first window's.
GpuPowerSummary merge_gpu_power(const std::vector<GpuPowerSummary>& windows);

// One line, e.g. "GPU 0000:00:06.0: 689 W mean (max 698, limit 700 W), SM clock 1671 MHz mean (1395-1980
// of 1980), power-capped in 95% and slowed by heat or hardware in 0% of 178 samples; 24.50 kJ over 35.6 s".
std::string format_gpu_power(const GpuPowerSummary& s);

// The NVML devices of the given PCI bus ids (as cudaDeviceGetPCIBusId writes them), read together.
class GpuPowerReader {
 public:
  // `library`: the NVML shared library to load (the driver's by default). Fails with the reason when it is
  // missing, does not initialize, or knows none of the devices.
  static Expected<std::unique_ptr<GpuPowerReader>> open(const std::vector<std::string>& pci_bus_ids,
                                                        const std::string& library = "libnvidia-ml.so.1");
  ~GpuPowerReader();
  GpuPowerReader(const GpuPowerReader&) = delete;
  GpuPowerReader& operator=(const GpuPowerReader&) = delete;

  const std::vector<std::string>& devices() const { return devices_; }
  // One sample per device, in the order of devices(); fails when the driver stops answering.
  Status read(std::vector<GpuPowerSample>* samples) const;

 private:
  struct Api;
  GpuPowerReader(std::unique_ptr<Api> api, std::vector<std::string> devices, std::vector<void*> handles);

  std::unique_ptr<Api> api_;
  std::vector<std::string> devices_;
  std::vector<void*> handles_;
};

// Samples a reader on a thread of its own every `period` until stop() (or destruction); the samples of each
// device are kept for the summary.
class GpuPowerMonitor {
 public:
  GpuPowerMonitor(std::unique_ptr<GpuPowerReader> reader, std::chrono::milliseconds period);
  ~GpuPowerMonitor();
  GpuPowerMonitor(const GpuPowerMonitor&) = delete;
  GpuPowerMonitor& operator=(const GpuPowerMonitor&) = delete;

  // Ends the sampling and returns one summary per device (of the samples taken before a failed read, if
  // one ended it early: failure() then says why).
  std::vector<GpuPowerSummary> stop();
  // The read that ended the sampling early; OK otherwise. Valid after stop().
  const Status& failure() const { return failure_; }

 private:
  void run();
  void halt();  // ends the sampling thread (once; later calls return at once)

  std::unique_ptr<GpuPowerReader> reader_;
  std::chrono::milliseconds period_;
  std::vector<std::vector<GpuPowerSample>> samples_;  // per device; the thread's until it is joined
  std::mutex mutex_;                                  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  Status failure_;  // the read that ended the sampling early, if one did
  std::thread thread_;
};

}  // namespace autoglm

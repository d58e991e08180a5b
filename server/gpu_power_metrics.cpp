#include "gpu_power_metrics.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace autoglm::server {

GpuPowerMetrics::GpuPowerMetrics(MetricsRegistry& registry, const Labels& labels,
                                 std::unique_ptr<GpuPowerReader> reader)
    : reader_(std::move(reader)) {
  if (reader_ == nullptr) return;
  read_errors_ = &registry.counter("autoglm:gpu_power_read_errors_total",
                                   "Scrapes whose GPU power reading failed.", labels);
  for (const std::string& device : reader_->devices()) {
    Labels l = labels;
    l.emplace_back("gpu", device);
    devices_.push_back(DeviceGauges{
        &registry.gauge("autoglm:gpu_power_watts", "GPU board power draw in watts.", l),
        &registry.gauge("autoglm:gpu_power_limit_watts", "GPU enforced power limit in watts.", l),
        &registry.gauge("autoglm:gpu_sm_clock_mhz", "GPU SM clock in MHz.", l),
        &registry.gauge("autoglm:gpu_power_capped",
                        "1 when the GPU's power limit (or power brake) is holding its clocks down.", l)});
  }
}

void GpuPowerMetrics::refresh() {
  if (reader_ == nullptr) return;
  std::vector<GpuPowerSample> samples;
  if (!reader_->read(&samples)) {
    read_errors_->inc();
    return;
  }
  for (size_t i = 0; i < samples.size() && i < devices_.size(); ++i) {
    const GpuPowerSample& s = samples[i];
    devices_[i].watts->set(s.watts);
    devices_[i].limit_watts->set(s.limit_watts);
    devices_[i].sm_mhz->set(s.sm_mhz);
    devices_[i].power_capped->set(power_capped(s) ? 1.0 : 0.0);
  }
}

std::unique_ptr<GpuPowerReader> open_gpu_power_reader(const std::vector<std::string>& pci_bus_ids) {
  if (pci_bus_ids.empty()) return nullptr;
  auto reader = GpuPowerReader::open(pci_bus_ids);
  if (!reader) {
    spdlog::warn("no GPU power metrics: {}", reader.status().to_string());
    return nullptr;
  }
  return std::move(reader).value();
}

}  // namespace autoglm::server

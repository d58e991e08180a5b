// The GPUs' power draw, power limit, SM clock and whether the power limit is holding the clock down, as
// Prometheus gauges refreshed at each scrape (backend/gpu_power.h reads them from the driver): a throughput
// dip that the engine's own figures cannot explain is often the device lowering its clock.
#pragma once

#include <memory>
#include <vector>

#include "backend/gpu_power.h"
#include "metrics/metrics.h"

namespace autoglm::server {

class GpuPowerMetrics {
 public:
  // Gauges labelled `labels` plus gpu="<PCI bus id>" for each of the reader's devices; none without a
  // reader.
  GpuPowerMetrics(MetricsRegistry& registry, const Labels& labels, std::unique_ptr<GpuPowerReader> reader);

  // One reading into the gauges; a failed reading counts autoglm:gpu_power_read_errors_total and leaves the
  // gauges as they were.
  void refresh();

 private:
  struct DeviceGauges {
    Gauge* watts;
    Gauge* limit_watts;
    Gauge* sm_mhz;
    Gauge* power_capped;
  };

  std::unique_ptr<GpuPowerReader> reader_;
  std::vector<DeviceGauges> devices_;
  Counter* read_errors_ = nullptr;
};

// The reader for these GPUs (ModelInfo::gpu_pci_bus_ids), or null (with a warning in the log) where there are
// none or the driver's library cannot be read.
std::unique_ptr<GpuPowerReader> open_gpu_power_reader(const std::vector<std::string>& pci_bus_ids);

}  // namespace autoglm::server

#include "backend/gpu_power.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace autoglm {

namespace {

// The few NVML entry points used here, by their C signatures (nvml.h): every call returns 0 on success; a
// device handle is an opaque pointer; clock type 1 is the SM clock; powers are in milliwatts.
using NvmlReturn = int;
using NvmlDevice = void*;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1;

}  // namespace

struct GpuPowerReader::Api {
  void* library = nullptr;
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  const char* (*error_string)(NvmlReturn) = nullptr;
  NvmlReturn (*handle_by_pci_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*power_usage)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*power_limit)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*clock)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*max_clock)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*clock_reasons)(NvmlDevice, unsigned long long*) = nullptr;
  bool initialized = false;

  ~Api() {
    if (initialized) shutdown();
    if (library != nullptr) dlclose(library);
  }

  std::string error(NvmlReturn r) const {
    const char* text = error_string != nullptr ? error_string(r) : nullptr;
    return text != nullptr ? std::string(text) : "NVML error " + std::to_string(r);
  }
};

namespace {

template <typename F>
bool bind(void* library, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(library, name));
  return *fn != nullptr;
}

}  // namespace

Expected<std::unique_ptr<GpuPowerReader>> GpuPowerReader::open(const std::vector<std::string>& pci_bus_ids,
                                                               const std::string& library) {
  if (pci_bus_ids.empty()) return invalid_argument("no GPU to read the power of");
  auto api = std::make_unique<Api>();
  api->library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    const char* why = dlerror();
    return unsupported("cannot load " + library + ": " + (why != nullptr ? why : "unknown error"));
  }
  bool bound = bind(api->library, "nvmlInit_v2", &api->init) &&
               bind(api->library, "nvmlShutdown", &api->shutdown) &&
               bind(api->library, "nvmlErrorString", &api->error_string) &&
               bind(api->library, "nvmlDeviceGetHandleByPciBusId_v2", &api->handle_by_pci_bus_id) &&
               bind(api->library, "nvmlDeviceGetPowerUsage", &api->power_usage) &&
               bind(api->library, "nvmlDeviceGetEnforcedPowerLimit", &api->power_limit) &&
               bind(api->library, "nvmlDeviceGetClockInfo", &api->clock) &&
               bind(api->library, "nvmlDeviceGetMaxClockInfo", &api->max_clock);
  // The reasons' entry point was renamed (clock "events" for "throttle" reasons); either will do.
  bound = bound && (bind(api->library, "nvmlDeviceGetCurrentClocksEventReasons", &api->clock_reasons) ||
                    bind(api->library, "nvmlDeviceGetCurrentClocksThrottleReasons", &api->clock_reasons));
  if (!bound) return unsupported(library + " lacks an NVML entry point this reader needs");
  if (const NvmlReturn r = api->init(); r != kNvmlSuccess) return unsupported("nvmlInit: " + api->error(r));
  api->initialized = true;
  std::vector<void*> handles;
  for (const std::string& id : pci_bus_ids) {
    NvmlDevice handle = nullptr;
    if (const NvmlReturn r = api->handle_by_pci_bus_id(id.c_str(), &handle); r != kNvmlSuccess)
      return not_found("NVML has no device " + id + ": " + api->error(r));
    handles.push_back(handle);
  }
  return std::unique_ptr<GpuPowerReader>(new GpuPowerReader(std::move(api), pci_bus_ids, std::move(handles)));
}

GpuPowerReader::GpuPowerReader(std::unique_ptr<Api> api, std::vector<std::string> devices,
                               std::vector<void*> handles)
    : api_(std::move(api)), devices_(std::move(devices)), handles_(std::move(handles)) {}

GpuPowerReader::~GpuPowerReader() = default;

Status GpuPowerReader::read(std::vector<GpuPowerSample>* samples) const {
  samples->assign(handles_.size(), GpuPowerSample{});
  for (size_t i = 0; i < handles_.size(); ++i) {
    unsigned int milliwatts = 0, limit = 0, sm = 0, max_sm = 0;
    unsigned long long reasons = 0;
    NvmlReturn r = api_->power_usage(handles_[i], &milliwatts);
    if (r == kNvmlSuccess) r = api_->power_limit(handles_[i], &limit);
    if (r == kNvmlSuccess) r = api_->clock(handles_[i], kNvmlClockSm, &sm);
    if (r == kNvmlSuccess) r = api_->max_clock(handles_[i], kNvmlClockSm, &max_sm);
    if (r == kNvmlSuccess) r = api_->clock_reasons(handles_[i], &reasons);
    if (r != kNvmlSuccess) return io_error("reading " + devices_[i] + ": " + api_->error(r));
    GpuPowerSample& s = (*samples)[i];
    s.watts = milliwatts / 1000.0;
    s.limit_watts = limit / 1000.0;
    s.sm_mhz = sm;
    s.max_sm_mhz = max_sm;
    s.reasons = reasons;
  }
  return Status::ok();
}

GpuPowerSummary summarize_gpu_power(const std::string& device, const std::vector<GpuPowerSample>& samples) {
  GpuPowerSummary s;
  s.device = device;
  s.samples = static_cast<int64_t>(samples.size());
  if (samples.empty()) return s;
  s.min_sm_mhz = samples.front().sm_mhz;
  double watts = 0, mhz = 0;
  int64_t capped = 0, slowed = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const GpuPowerSample& x = samples[i];
    if (i > 0) s.joules += 0.5 * (x.watts + samples[i - 1].watts) * (x.seconds - samples[i - 1].seconds);
    watts += x.watts;
    mhz += x.sm_mhz;
    s.max_watts = std::max(s.max_watts, x.watts);
    s.limit_watts = std::max(s.limit_watts, x.limit_watts);
    s.min_sm_mhz = std::min(s.min_sm_mhz, x.sm_mhz);
    s.max_sm_mhz = std::max(s.max_sm_mhz, x.sm_mhz);
    s.device_max_sm_mhz = std::max(s.device_max_sm_mhz, x.max_sm_mhz);
    capped += power_capped(x);
    slowed += slowed_down(x);
  }
  const auto n = static_cast<double>(samples.size());
  s.seconds = samples.back().seconds - samples.front().seconds;
  s.mean_watts = watts / n;
  s.mean_sm_mhz = mhz / n;
  s.power_capped = static_cast<double>(capped) / n;
  s.slowdown = static_cast<double>(slowed) / n;
  return s;
}

GpuPowerSummary merge_gpu_power(const std::vector<GpuPowerSummary>& windows) {
  GpuPowerSummary m;
  if (!windows.empty()) m.device = windows.front().device;
  for (const GpuPowerSummary& w : windows) {
    if (w.samples == 0) continue;
    const auto n = static_cast<double>(w.samples);
    m.min_sm_mhz = m.samples == 0 ? w.min_sm_mhz : std::min(m.min_sm_mhz, w.min_sm_mhz);
    m.mean_watts += w.mean_watts * n;
    m.mean_sm_mhz += w.mean_sm_mhz * n;
    m.power_capped += w.power_capped * n;
    m.slowdown += w.slowdown * n;
    m.samples += w.samples;
    m.max_watts = std::max(m.max_watts, w.max_watts);
    m.limit_watts = std::max(m.limit_watts, w.limit_watts);
    m.max_sm_mhz = std::max(m.max_sm_mhz, w.max_sm_mhz);
    m.device_max_sm_mhz = std::max(m.device_max_sm_mhz, w.device_max_sm_mhz);
    m.seconds += w.seconds;
    m.joules += w.joules;
  }
  if (m.samples > 0) {
    const auto n = static_cast<double>(m.samples);
    m.mean_watts /= n;
    m.mean_sm_mhz /= n;
    m.power_capped /= n;
    m.slowdown /= n;
  }
  return m;
}

std::string format_gpu_power(const GpuPowerSummary& s) {
  if (s.samples == 0) return "GPU " + s.device + ": no power samples";
  char line[320];
  std::snprintf(line, sizeof line,
                "GPU %s: %.0f W mean (max %.0f, limit %.0f W), SM clock %.0f MHz mean (%.0f-%.0f of %.0f), "
                "power-capped in %.0f%% and slowed by heat or hardware in %.0f%% of %lld samples",
                s.device.c_str(), s.mean_watts, s.max_watts, s.limit_watts, s.mean_sm_mhz, s.min_sm_mhz,
                s.max_sm_mhz, s.device_max_sm_mhz, 100 * s.power_capped, 100 * s.slowdown,
                static_cast<long long>(s.samples));
  std::string text = line;
  if (s.seconds > 0) {
    std::snprintf(line, sizeof line, "; %.2f kJ over %.1f s", s.joules / 1000, s.seconds);
    text += line;
  }
  return text;
}

GpuPowerMonitor::GpuPowerMonitor(std::unique_ptr<GpuPowerReader> reader, std::chrono::milliseconds period)
    : reader_(std::move(reader)), period_(period), samples_(reader_->devices().size()) {
  thread_ = std::thread([this] { run(); });
}

GpuPowerMonitor::~GpuPowerMonitor() {
  halt();
}

void GpuPowerMonitor::halt() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GpuPowerMonitor::run() {
  std::vector<GpuPowerSample> now;
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Status s = reader_->read(&now);
    lock.lock();
    if (!s) {
      failure_ = s;
      return;
    }
    for (size_t i = 0; i < now.size(); ++i) {
      now[i].seconds = seconds;
      samples_[i].push_back(now[i]);
    }
    wake_.wait_for(lock, period_, [this] { return stopping_; });
  }
}

std::vector<GpuPowerSummary> GpuPowerMonitor::stop() {
  halt();
  std::vector<GpuPowerSummary> out;
  for (size_t i = 0; i < samples_.size(); ++i)
    out.push_back(summarize_gpu_power(reader_->devices()[i], samples_[i]));
  return out;
}

}  // namespace autoglm

// A stand-in for the driver's NVML library with the entry points backend/gpu_power.cpp binds, so that the
// reader's loading, binding, reading and error paths run on machines without a GPU. Two devices:
// "0000:01:00.0" draws 690 W of a 700 W limit at SM clocks 1,500 and 1,700 MHz by turns (of 1,980), held by
// the power cap; "0000:02:00.0" draws 100 W at 1,980 MHz, nothing held. fake_nvml_fail_from(n) makes every
// power reading from the n-th on fail (a driver that stops answering).
#include <atomic>
#include <cstring>

namespace {

constexpr int kSuccess = 0, kUninitialized = 1, kInvalidArgument = 2, kNotFound = 6, kUnknown = 999;

struct FakeDevice {
  int id;
};
FakeDevice devices[2] = {{0}, {1}};
std::atomic<int> initialized{0};
std::atomic<long> power_reads{0};
std::atomic<long> fail_from{-1};
std::atomic<long> clock_reads[2];

}  // namespace

extern "C" {

void fake_nvml_fail_from(long n) {
  fail_from = n;
  power_reads = 0;
}

int nvmlInit_v2() {
  ++initialized;
  return kSuccess;
}

int nvmlShutdown() {
  if (initialized == 0) return kUninitialized;
  --initialized;
  return kSuccess;
}

const char* nvmlErrorString(int r) {
  switch (r) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kNotFound:
      return "Not Found";
    default:
      return "Unknown Error";
  }
}

int nvmlDeviceGetHandleByPciBusId_v2(const char* id, void** device) {
  if (initialized == 0) return kUninitialized;
  if (id == nullptr || device == nullptr) return kInvalidArgument;
  if (std::strcmp(id, "0000:01:00.0") == 0) {
    *device = &devices[0];
  } else if (std::strcmp(id, "0000:02:00.0") == 0) {
    *device = &devices[1];
  } else {
    return kNotFound;
  }
  return kSuccess;
}

int nvmlDeviceGetPowerUsage(void* device, unsigned int* milliwatts) {
  const long n = power_reads++;
  if (fail_from >= 0 && n >= fail_from) return kUnknown;
  *milliwatts = static_cast<FakeDevice*>(device)->id == 0 ? 690000 : 100000;
  return kSuccess;
}

int nvmlDeviceGetEnforcedPowerLimit(void* device, unsigned int* milliwatts) {
  (void)device;
  *milliwatts = 700000;
  return kSuccess;
}

int nvmlDeviceGetClockInfo(void* device, int type, unsigned int* mhz) {
  if (type != 1) return kInvalidArgument;  // the SM clock only
  const int id = static_cast<FakeDevice*>(device)->id;
  *mhz = id == 0 ? (clock_reads[0]++ % 2 == 0 ? 1500 : 1700) : 1980;
  return kSuccess;
}

int nvmlDeviceGetMaxClockInfo(void* device, int type, unsigned int* mhz) {
  (void)device;
  if (type != 1) return kInvalidArgument;
  *mhz = 1980;
  return kSuccess;
}

int nvmlDeviceGetCurrentClocksEventReasons(void* device, unsigned long long* reasons) {
  *reasons = static_cast<FakeDevice*>(device)->id == 0 ? 0x4ull : 0ull;
  return kSuccess;
}

}  // extern "C"

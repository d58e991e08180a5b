// What the CUDA op microbenchmarks (tools/bench/*_cuda.cpp) share: error checks that end the run, the
// device copy bandwidth their ratios divide by, timing a sequence of calls as one replayed CUDA graph, and
// the list options, random bf16 operands.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/gpu_power.h"
#include "core/half.h"
#include "core/status.h"

namespace autoglm::bench {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

inline void check(const Status& s, const char* what) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

// Median milliseconds of `work` queued on s, over 5 runs after a first one that is not counted (module load,
// clocks ramping up).
inline double median_ms(cudaStream_t s, const std::function<void()>& work) {
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "event");
  check(cudaEventCreate(&e1), "event");
  std::vector<float> ms;
  for (int r = 0; r < 6; ++r) {
    check(cudaEventRecord(e0, s), "record");
    work();
    check(cudaEventRecord(e1, s), "record");
    check(cudaEventSynchronize(e1), "sync");
    float t = 0;
    check(cudaEventElapsedTime(&t, e0, e1), "elapsed");
    if (r > 0) ms.push_back(t);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Device-to-device copy of 1 GiB, bytes read + written per second.
inline double copy_bandwidth(cudaStream_t s) {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "malloc");
  check(cudaMalloc(&b, bytes), "malloc");
  check(cudaMemsetAsync(a, 1, bytes, s), "memset");
  const double ms =
      median_ms(s, [&] { check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s), "copy"); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3);
}

// `calls` calls of call(i) recorded on s as one graph, for replays (alone or beside another stream's).
class RecordedCalls {
 public:
  RecordedCalls(cudaStream_t s, int calls, const std::function<void(int)>& call) {
    cudaGraph_t graph;
    check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture");
    for (int i = 0; i < calls; ++i)
      call(i);
    check(cudaStreamEndCapture(s, &graph), "end capture");
    check(cudaGraphInstantiate(&exec_, graph, 0), "instantiate");
    cudaGraphDestroy(graph);
  }
  ~RecordedCalls() { cudaGraphExecDestroy(exec_); }
  RecordedCalls(const RecordedCalls&) = delete;
  RecordedCalls& operator=(const RecordedCalls&) = delete;
  void replay(cudaStream_t s) const { check(cudaGraphLaunch(exec_, s), "replay"); }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// Median seconds per call of `call(i)` for i = 0..calls-1, recorded once as a graph and replayed; call(i) for
// i = 0..warm-1 runs once before the recording.
inline double time_calls(cudaStream_t s, int warm, int calls, const std::function<void(int)>& call) {
  for (int i = 0; i < warm; ++i)
    call(i);  // first use outside the recording (module load, scratch for the split partials)
  check(cudaStreamSynchronize(s), "warm-up");
  const RecordedCalls recorded(s, calls, call);
  return median_ms(s, [&] { recorded.replay(s); }) * 1e-3 / calls;
}

// Median milliseconds of a on stream sa and b on stream sb started together (sb waits for sa's start) until
// both are done, over 5 runs after a first one.
inline double median_ms_beside(cudaStream_t sa, const RecordedCalls& a, cudaStream_t sb,
                               const RecordedCalls& b) {
  cudaEvent_t start, b_done;
  check(cudaEventCreateWithFlags(&start, cudaEventDisableTiming), "event");
  check(cudaEventCreateWithFlags(&b_done, cudaEventDisableTiming), "event");
  const double ms = median_ms(sa, [&] {
    check(cudaEventRecord(start, sa), "record");
    check(cudaStreamWaitEvent(sb, start), "wait");
    a.replay(sa);
    b.replay(sb);
    check(cudaEventRecord(b_done, sb), "record");
    check(cudaStreamWaitEvent(sa, b_done), "wait");
  });
  cudaEventDestroy(start);
  cudaEventDestroy(b_done);
  return ms;
}

// What a sustained run of recorded calls gives: seconds per call, and the device's power and SM clock over it
// (backend/gpu_power.h; a note instead where the driver's library cannot be read).
struct Sustained {
  double sec_per_call = 0;
  std::string power;
};

// Replays `recorded` (`calls` calls per replay) back to back for `seconds` after as long a pre-heat, so the
// device reaches the clock its power limit allows; power sampled every 100 ms over the timed part.
inline Sustained sustain(cudaStream_t s, const RecordedCalls& recorded, int calls, double seconds) {
  auto replay_for = [&](double limit) {
    const auto t0 = std::chrono::steady_clock::now();
    int64_t replays = 0;
    double elapsed = 0;
    while (elapsed < limit) {
      for (int r = 0; r < 4; ++r)
        recorded.replay(s);
      check(cudaStreamSynchronize(s), "sustain");
      replays += 4;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return elapsed / static_cast<double>(replays * calls);
  };
  replay_for(seconds);
  int device = 0;
  char id[32] = {};
  check(cudaGetDevice(&device), "device");
  check(cudaDeviceGetPCIBusId(id, sizeof id, device), "PCI bus id");
  auto reader = GpuPowerReader::open({id});
  if (!reader) return {replay_for(seconds), "no power samples: " + reader.status().to_string()};
  GpuPowerMonitor monitor(std::move(reader).value(), std::chrono::milliseconds(100));
  const double sec = replay_for(seconds);
  const std::vector<GpuPowerSummary> summary = monitor.stop();
  return {sec, format_gpu_power(summary.front())};
}

// bf16 bits of `count` uniform values in [-1, 1) (rounded to nearest even), the same for the same seed.
inline std::vector<uint16_t> random_bf16(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<uint16_t> v(count);
  for (auto& e : v)
    e = f32_to_bf16(u(rng));
  return v;
}

// "1,16,64" -> {1, 16, 64}; stops at the first item that is not a number.
inline std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> v;
  for (const char* p = s; *p != 0;) {
    char* end = nullptr;
    const long long value = std::strtoll(p, &end, 10);
    if (end == p) break;
    v.push_back(value);
    p = *end == ',' ? end + 1 : end;
  }
  return v;
}

}  // namespace autoglm::bench

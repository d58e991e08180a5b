// What the CUDA op microbenchmarks (tools/bench/*_cuda.cpp) share: error checks that end the run, the
// device copy bandwidth their ratios divide by, timing a sequence of calls as one replayed CUDA graph, and
// the list options.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

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

// Device-to-device copy of 1 GiB, bytes read + written per second.
inline double copy_bandwidth(cudaStream_t s) {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "malloc");
  check(cudaMalloc(&b, bytes), "malloc");
  check(cudaMemsetAsync(a, 1, bytes, s), "memset");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(e0, s);
    check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s), "copy");
    cudaEventRecord(e1, s);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (i > 0) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3);
}

// Median seconds per call of `call(i)` for i = 0..calls-1, recorded once as a graph and replayed; call(i) for
// i = 0..warm-1 runs once before the recording.
inline double time_calls(cudaStream_t s, int warm, int calls, const std::function<void(int)>& call) {
  for (int i = 0; i < warm; ++i)
    call(i);  // first use outside the recording (module load, scratch for the split partials)
  check(cudaStreamSynchronize(s), "warm-up");
  cudaGraph_t graph;
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture");
  for (int i = 0; i < calls; ++i)
    call(i);
  check(cudaStreamEndCapture(s, &graph), "end capture");
  cudaGraphExec_t exec;
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms;
  for (int r = 0; r < 6; ++r) {
    cudaEventRecord(e0, s);
    check(cudaGraphLaunch(exec, s), "replay");
    cudaEventRecord(e1, s);
    check(cudaEventSynchronize(e1), "sync");
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (r > 0) ms.push_back(t);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2] * 1e-3 / calls;
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

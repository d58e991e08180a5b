// A CUPTI injection library: records every kernel and copy of a CUDA program (start and end on the GPU) and
// prints at exit where the GPU's time went: the span from the first to the last activity, the time at least
// one kernel or copy ran (the union over all streams), the idle gaps between busy stretches by size, and the
// kernels by name. Nsight Systems' timeline in a few numbers, for machines that have CUPTI but not nsys.
//
//   CUDA_INJECTION64_PATH=libkernel_trace.so KERNEL_TRACE_OUT=trace.txt program ...
//
// KERNEL_TRACE_SKIP_S: ignore activities that start in the first S seconds (loading, warm-up).
#include <cupti.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct Activity {
  uint64_t start, end;
  int name;       // index into names; -1 for copies
  bool replayed;  // launched by a CUDA graph
};

std::mutex g_mutex;
std::vector<Activity> g_activities;
std::vector<std::string> g_names;
std::map<std::string, int> g_name_ids;

constexpr size_t kBufferBytes = size_t{8} << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = kBufferBytes;
  *max_records = 0;
}

int name_id(const char* name) {
  const std::string key = name != nullptr ? name : "?";
  auto [it, inserted] = g_name_ids.emplace(key, static_cast<int>(g_names.size()));
  if (inserted) g_names.push_back(key);
  return it->second;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || record->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      g_activities.push_back({k->start, k->end, name_id(k->name), k->graphId != 0});
    } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      g_activities.push_back({m->start, m->end, -1, m->graphId != 0});
    }
  }
  std::free(buffer);
}

// Kernel families by name, for the totals.
std::string family(const std::string& name) {
  static const std::pair<const char*, const char*> kFamilies[] = {
      {"gemm", "GEMM"},
      {"sm90_xmma", "GEMM"},
      {"cutlass", "GEMM"},
      {"nvjet", "GEMM"},
      {"decode_tc", "decode attention"},
      {"paged_attention", "attention (other)"},
      {"prefill", "attention (other)"},
      {"rms", "RMSNorm"},
      {"swiglu", "SwiGLU"},
      {"rope", "rope + KV store"},
      {"convert", "conversions"},
      {"add", "adds"},
      {"nccl", "collectives"},
  };
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [key, label] : kFamilies)
    if (lower.find(key) != std::string::npos) return label;
  return "other";
}

void report() {
  cuptiActivityFlushAll(1);
  std::lock_guard<std::mutex> lock(g_mutex);
  const char* path = std::getenv("KERNEL_TRACE_OUT");
  FILE* out = path != nullptr ? std::fopen(path, "w") : stderr;
  if (out == nullptr) out = stderr;
  if (g_activities.empty()) {
    std::fprintf(out, "kernel_trace: no activities\n");
    return;
  }
  std::sort(g_activities.begin(), g_activities.end(),
            [](const Activity& a, const Activity& b) { return a.start < b.start; });
  const char* skip_env = std::getenv("KERNEL_TRACE_SKIP_S");
  const uint64_t skip_ns = skip_env != nullptr ? static_cast<uint64_t>(std::atof(skip_env) * 1e9) : 0;
  const uint64_t t0 = g_activities.front().start + skip_ns;
  // Busy stretches: the union of the intervals; gaps between them by size.
  const double kBounds[] = {2e3, 5e3, 20e3, 100e3, 1e6, 1e12};  // ns
  const char* kLabels[] = {"< 2 us", "2-5 us", "5-20 us", "20-100 us", "0.1-1 ms", "> 1 ms"};
  double gap_ns[6] = {}, gap_n[6] = {};
  uint64_t busy = 0, cur_start = 0, cur_end = 0, first = 0, last = 0;
  bool open = false;
  std::map<std::string, std::pair<double, long>> by_family, by_name;
  // Per second of the span: kernel time by family and the longest idle gap, to tell loading and warm-up
  // from the measured work.
  std::vector<std::map<std::string, double>> per_second;
  std::vector<double> longest_gap;
  for (const Activity& a : g_activities) {
    if (a.start < t0) continue;
    if (!open) {
      first = cur_start = a.start;
      cur_end = a.end;
      open = true;
    } else if (a.start > cur_end) {
      busy += cur_end - cur_start;
      const double gap = static_cast<double>(a.start - cur_end);
      int b = 0;
      while (gap >= kBounds[b])
        ++b;
      gap_ns[b] += gap;
      gap_n[b] += 1;
      const auto second = static_cast<size_t>((a.start - t0) / 1000000000);
      if (longest_gap.size() <= second) longest_gap.resize(second + 1, 0.0);
      longest_gap[second] = std::max(longest_gap[second], gap);
      cur_start = a.start;
      cur_end = a.end;
    } else {
      cur_end = std::max(cur_end, a.end);
    }
    last = std::max(last, a.end);
    const std::string name = a.name >= 0 ? g_names[static_cast<size_t>(a.name)] : std::string("[copy]");
    const double d = static_cast<double>(a.end - a.start);
    const std::string fam = a.name >= 0 ? family(name) : "copies";
    auto& f = by_family[fam + (a.replayed ? " [graph]" : "")];
    f.first += d;
    const auto second = static_cast<size_t>((a.start - t0) / 1000000000);
    if (per_second.size() <= second) per_second.resize(second + 1);
    per_second[second][fam] += d;
    f.second += 1;
    auto& n = by_name[name.substr(0, 90)];
    n.first += d;
    n.second += 1;
  }
  if (open) busy += cur_end - cur_start;
  const double span = static_cast<double>(last - first);
  std::fprintf(out, "span %.3f s, busy %.3f s (%.1f%%), idle %.3f s\n", span / 1e9, busy / 1e9,
               100.0 * busy / span, (span - busy) / 1e9);
  std::fprintf(out, "\nidle gaps          count      total ms\n");
  for (int b = 0; b < 6; ++b)
    std::fprintf(out, "%-12s %12.0f %13.1f\n", kLabels[b], gap_n[b], gap_ns[b] / 1e6);
  std::fprintf(out, "\nfamily                        count      total ms   %% of busy\n");
  for (const auto& [f, v] : by_family)
    std::fprintf(out, "%-24s %10ld %13.1f %8.1f\n", f.c_str(), v.second, v.first / 1e6,
                 100.0 * v.first / busy);
  std::fprintf(out, "\nsecond   kernel ms   GEMM ms   decode attn ms   longest gap ms\n");
  for (size_t i = 0; i < per_second.size(); ++i) {
    double all = 0;
    for (const auto& [fam, d] : per_second[i])
      all += d;
    const auto get = [&](const char* fam) {
      auto it = per_second[i].find(fam);
      return it == per_second[i].end() ? 0.0 : it->second;
    };
    std::fprintf(out, "%6zu %11.1f %9.1f %16.1f %16.2f\n", i, all / 1e6, get("GEMM") / 1e6,
                 get("decode attention") / 1e6, i < longest_gap.size() ? longest_gap[i] / 1e6 : 0.0);
  }
  std::vector<std::pair<std::string, std::pair<double, long>>> names(by_name.begin(), by_name.end());
  std::sort(names.begin(), names.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::fprintf(out,
               "\ntop kernels                                                                      count   "
               "total ms   mean us\n");
  for (size_t i = 0; i < names.size() && i < 40; ++i) {
    const auto& [n, v] = names[i];
    std::fprintf(out, "%-90s %8ld %10.1f %9.2f\n", n.c_str(), v.second, v.first / 1e6,
                 v.first / 1e3 / v.second);
  }
  if (out != stderr) std::fclose(out);
}

}  // namespace

extern "C" int InitializeInjection(void) {
  if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS) return 0;
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
  std::atexit(report);
  return 1;
}

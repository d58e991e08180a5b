// Causal grouped-query attention over a contiguous KV cache, f32, CPU; and kv_store, the cache row writer.
//
// Layout: q and out [t, q_heads, head_dim]; caches [capacity, kv_heads, head_dim]: key j of KV head g is the
//   head_dim floats at (j * kv_heads + g) * head_dim. Query row i sits at position q_pos0 + i.
// Work unit: one query row x one KV head x one chunk of that row's keys. A unit scores all
//   group = q_heads / kv_heads query heads against each K row before moving on, so every K and V row is read
//   once per KV head and query row (the decode floor), whatever the GQA ratio.
// Threading: decode has only kv_heads units, too few for the pool (GLM-4 has 2 KV heads), so when the units
//   do not fill the pool each row's keys are split into chunks (flash-decoding): a chunk keeps its own max,
//   sum and unnormalized output, merged afterwards with the usual exp(max_c - max) rescaling. Prefill rows
//   go to threads in zigzag order (0, t-1, 1, t-2, ...) because causal rows grow longer towards the end and
//   the pool hands out contiguous ranges. Work under kMinParallelFlops runs inline.
// Accumulation: dot products in kLanes independent f32 lanes (vectorizable without -ffast-math), scores and
//   outputs in f32, max-subtracted exps summed in double. On x86-64 the unit is compiled twice (AVX2+FMA and
//   baseline) and picked at load time, because prefill attention is compute-bound.
// Floor: decode reads 2 * n_keys * kv_heads * head_dim * 4 bytes (K and V) / bandwidth; prefill is
//   FLOP-bound at about 4 * t * n_keys * q_heads * head_dim.
// Reference: ref/attention_ref.cpp (the triple loop in double).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AUTOGLM_ATTENTION_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define AUTOGLM_ATTENTION_CLONES
#endif

namespace autoglm {
namespace {

constexpr int kLanes = 16;
constexpr int64_t kMinKeysPerChunk = 256;
constexpr double kMinParallelFlops = 1 << 17;
constexpr int64_t kMinStoreBytesPerTask = 1 << 18;

struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
};

struct Plan {
  int64_t t = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t group = 0;
  int64_t head_dim = 0;
  int64_t n_chunks = 1;
  float* part_out = nullptr;    // [t, q_heads, n_chunks, head_dim] unnormalized outputs, when n_chunks > 1
  float* part_stats = nullptr;  // [t, q_heads, n_chunks, 2] (max, sum of exps), when n_chunks > 1
};

// The cache rows that query row i attends (HF sliding-window semantics); never empty.
KeyRange row_keys(const AttentionArgs& a, int64_t i) {
  const int64_t pos = a.q_pos0 + i;
  return {a.window > 0 ? std::max<int64_t>(0, pos - a.window + 1) : 0, pos + 1};
}

// Chunk c of n_chunks near-equal parts of r; empty when r has fewer keys than chunks.
KeyRange chunk_of(KeyRange r, int64_t c, int64_t n_chunks) {
  const int64_t n = r.end - r.begin;
  return {r.begin + n * c / n_chunks, r.begin + n * (c + 1) / n_chunks};
}

inline float dot(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  float sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum;
}

inline void axpy(float* y, float alpha, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Turns one query head's scores into unnormalized probabilities in place; returns (max, sum of exps).
inline std::pair<float, double> exponentiate(float* s, int64_t n, float softcap) {
  if (softcap > 0) {
    for (int64_t j = 0; j < n; ++j) s[j] = softcap * std::tanh(s[j] / softcap);
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return {m, sum};
}

// Per-thread buffers, kept between calls so decode does not allocate.
struct Scratch {
  std::vector<float> floats;                   // scores [group, n], then acc [group, head_dim]
  std::vector<std::pair<float, double>> stats;  // (max, sum of exps) per query head of the group
};

AUTOGLM_ATTENTION_CLONES
void attend_unit(const AttentionArgs& a, const Plan& p, int64_t i, int64_t g, int64_t c, Scratch& scratch) {
  const KeyRange keys = chunk_of(row_keys(a, i), c, p.n_chunks);
  const int64_t n = keys.end - keys.begin, hd = p.head_dim, group = p.group;
  scratch.floats.resize(static_cast<size_t>(group * (n + hd)));
  scratch.stats.resize(static_cast<size_t>(group));
  float* scores = scratch.floats.data();
  float* acc = scores + group * n;
  auto& stats = scratch.stats;
  const int64_t first_head = g * group;
  const float* q = a.q.as<const float>() + (i * p.q_heads + first_head) * hd;
  const int64_t row_stride = p.kv_heads * hd;
  const float* k = a.k_cache.as<const float>() + keys.begin * row_stride + g * hd;
  const float* v = a.v_cache.as<const float>() + keys.begin * row_stride + g * hd;

  for (int64_t j = 0; j < n; ++j) {
    for (int64_t h = 0; h < group; ++h) scores[h * n + j] = a.scale * dot(q + h * hd, k + j * row_stride, hd);
  }
  std::fill(acc, acc + group * hd, 0.0f);
  for (int64_t h = 0; h < group; ++h) stats[h] = exponentiate(scores + h * n, n, a.softcap);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t h = 0; h < group; ++h) axpy(acc + h * hd, scores[h * n + j], v + j * row_stride, hd);
  }

  for (int64_t h = 0; h < group; ++h) {
    const int64_t head = i * p.q_heads + first_head + h;
    if (p.n_chunks == 1) {
      const float inv_sum = static_cast<float>(1.0 / stats[h].second);
      float* out = a.out.as<float>() + head * hd;
      for (int64_t d = 0; d < hd; ++d) out[d] = acc[h * hd + d] * inv_sum;
    } else {
      const int64_t slot = head * p.n_chunks + c;
      std::memcpy(p.part_out + slot * hd, acc + h * hd, static_cast<size_t>(hd) * sizeof(float));
      p.part_stats[2 * slot] = stats[h].first;
      p.part_stats[2 * slot + 1] = static_cast<float>(stats[h].second);
    }
  }
}

// out = sum_c exp(max_c - max) * part_out_c / sum_c exp(max_c - max) * sum_c, skipping empty chunks.
void merge_chunks(const AttentionArgs& a, const Plan& p) {
  const int64_t hd = p.head_dim;
  for (int64_t head = 0; head < p.t * p.q_heads; ++head) {
    const float* stats = p.part_stats + head * p.n_chunks * 2;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < p.n_chunks; ++c) {
      if (stats[2 * c + 1] > 0) m = std::max(m, stats[2 * c]);
    }
    float* out = a.out.as<float>() + head * hd;
    std::fill(out, out + hd, 0.0f);
    double total = 0;
    for (int64_t c = 0; c < p.n_chunks; ++c) {
      if (!(stats[2 * c + 1] > 0)) continue;
      const float weight = std::exp(stats[2 * c] - m);
      total += static_cast<double>(weight) * stats[2 * c + 1];
      axpy(out, weight, p.part_out + (head * p.n_chunks + c) * hd, hd);
    }
    const float inv_total = static_cast<float>(1.0 / total);
    for (int64_t d = 0; d < hd; ++d) out[d] *= inv_total;
  }
}

// 0, n-1, 1, n-2, ...: contiguous ranges of this order mix short and long causal rows.
int64_t zigzag(int64_t k, int64_t n) { return k % 2 == 0 ? k / 2 : n - 1 - k / 2; }

void attention_cpu_f32(Backend& backend, const AttentionArgs& a) {
  Plan p;
  p.t = a.q.shape[0];
  p.q_heads = a.q.shape[1];
  p.head_dim = a.q.shape[2];
  p.kv_heads = a.k_cache.shape[1];
  if (p.t == 0 || p.q_heads == 0) return;
  p.group = p.q_heads / p.kv_heads;

  ThreadPool& pool = cpu_pool(backend);
  const KeyRange last = row_keys(a, p.t - 1);
  const int64_t max_keys = last.end - last.begin;
  const double flops = 4.0 * static_cast<double>(p.t) * max_keys * p.q_heads * std::max<int64_t>(1, p.head_dim);
  const bool parallel = pool.n_threads() > 1 && flops >= kMinParallelFlops;
  const int64_t row_units = p.t * p.kv_heads;
  if (parallel && row_units < pool.n_threads()) {
    const int64_t wanted = (pool.n_threads() + row_units - 1) / row_units;
    p.n_chunks = std::clamp<int64_t>(max_keys / kMinKeysPerChunk, 1, wanted);
  }
  // Lives on the calling thread and keeps its capacity: decode calls this once per layer and token.
  thread_local std::vector<float> partials;
  if (p.n_chunks > 1) {
    const int64_t slots = p.t * p.q_heads * p.n_chunks;
    partials.resize(static_cast<size_t>(slots * (p.head_dim + 2)));
    p.part_out = partials.data();
    p.part_stats = p.part_out + slots * p.head_dim;
  }

  const int64_t n_units = row_units * p.n_chunks;
  pool.parallel_for(
      n_units,
      [&](int64_t begin, int64_t end, int) {
        thread_local Scratch scratch;
        for (int64_t u = begin; u < end; ++u) {
          const int64_t c = u % p.n_chunks, rest = u / p.n_chunks;
          attend_unit(a, p, zigzag(rest / p.kv_heads, p.t), rest % p.kv_heads, c, scratch);
        }
      },
      parallel ? 1 : n_units);
  if (p.n_chunks > 1) merge_chunks(a, p);
}

// A byte copy, so one kernel serves every cache dtype.
void kv_store_cpu(Backend& backend, const KvStoreArgs& a) {
  const size_t row_bytes = a.src.shape[0] == 0 ? 0 : a.src.nbytes() / static_cast<size_t>(a.src.shape[0]);
  if (row_bytes == 0) return;
  const auto* src = static_cast<const uint8_t*>(a.src.data);
  auto* dst = static_cast<uint8_t*>(a.cache.data) + static_cast<size_t>(a.start) * row_bytes;
  const int64_t grain = std::max<int64_t>(1, kMinStoreBytesPerTask / static_cast<int64_t>(row_bytes));
  cpu_pool(backend).parallel_for(
      a.src.shape[0],
      [&](int64_t begin, int64_t end, int) {
        std::memcpy(dst + begin * row_bytes, src + begin * row_bytes, (end - begin) * row_bytes);
      },
      grain);
}

const KernelRegistrar<AttentionArgs> kRegisterAttention(DeviceKind::kCpu, DType::kF32, attention_cpu_f32);
const KernelRegistrar<KvStoreArgs> kRegisterStoreF32(DeviceKind::kCpu, DType::kF32, kv_store_cpu);
const KernelRegistrar<KvStoreArgs> kRegisterStoreF16(DeviceKind::kCpu, DType::kF16, kv_store_cpu);
const KernelRegistrar<KvStoreArgs> kRegisterStoreBF16(DeviceKind::kCpu, DType::kBF16, kv_store_cpu);

}  // namespace
}  // namespace autoglm

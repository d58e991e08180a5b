// Causal grouped-query attention over a contiguous KV cache, f32, CPU; and kv_store, the cache row writer
// (a byte copy, or f32 -> bf16 / f16 rounding to nearest even).
//
// Layout: q and out [t, q_heads, head_dim]; caches [capacity, kv_heads, head_dim]: key j of KV head g is the
//   head_dim floats at (j * kv_heads + g) * head_dim. Query row i sits at position q_pos0 + i; with
//   positions given (host memory here) q_pos0 is read from positions[0], as the CUDA decode kernels do.
// Work unit: one query row x one KV head x one chunk of that row's keys. A unit scores all
//   group = q_heads / kv_heads query heads against each K row before moving on, so every K and V row is read
//   once per KV head and query row (the decode floor), whatever the GQA ratio.
// Threading: decode has only kv_heads units, too few for the pool (GLM-4 has 2 KV heads), so when the units
//   do not fill the pool each row's keys are split into chunks (flash-decoding): a chunk keeps its own max,
//   sum and unnormalized output, merged afterwards with the usual exp(max_c - max) rescaling. Prefill rows
//   go to threads in zigzag order (0, t-1, 1, t-2, ...) because causal rows grow longer towards the end and
//   the pool hands out contiguous ranges. Work under kMinParallelFlops runs inline.
// Inner loops: scores four (head, key) pairs at a time (four independent FMA chains); P.V over blocks of
//   kKeyBlock keys with 32 outputs held in registers, so the block's V rows are read from L1 by every head of
//   the group and the output is loaded and stored once per block. Both use 8-float vector extensions and are
//   compiled twice on x86-64 (AVX2+FMA and baseline SSE2, picked at load time), because prefill attention and
//   GQA decode with many heads per KV head are compute-bound.
// Accumulation: f32 dot products and outputs; max-subtracted exps (8-lane exp of vec_exp.h, ~2 ulp) summed
//   in double.
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
#include "backend/cpu/kernels/vec_exp.h"
#include "core/half.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AUTOGLM_ATTENTION_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
// Vec8 only passes between inlined functions of this file, so the note that 32-byte vectors change the
// calling convention without AVX concerns no real call.
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define AUTOGLM_ATTENTION_CLONES
#endif

namespace autoglm {
namespace {

constexpr int kPairs = 4;
constexpr int64_t kKeyBlock = 64;
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

// 8 floats: one AVX2 register in the x86-64-v3 clone, two SSE registers in the baseline. GCC/Clang vector
// extensions, because auto-vectorization of these loops broke under inlining (accumulators spilled to the
// stack) while explicit vectors compile the same way wherever they are inlined.
using Vec8 = cpu_vec::Vec8;
constexpr int kVec = cpu_vec::kWidth;

inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store8(float* p, Vec8 v) {
  std::memcpy(p, &v, sizeof v);
}

inline float horizontal_sum(Vec8 v) {
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
  return v[0];
}

inline float dot(const float* a, const float* b, int64_t n) {
  Vec8 acc{};
  int64_t d = 0;
  for (; d + kVec <= n; d += kVec)
    acc += load8(a + d) * load8(b + d);
  float sum = horizontal_sum(acc);
  for (; d < n; ++d)
    sum += a[d] * b[d];
  return sum;
}

// Four dot products at once: four independent FMA chains hide the add latency one chain waits on.
inline void dot4(const float* const a[kPairs], const float* const b[kPairs], int64_t n, float out[kPairs]) {
  Vec8 acc0{}, acc1{}, acc2{}, acc3{};
  int64_t d = 0;
  for (; d + kVec <= n; d += kVec) {
    acc0 += load8(a[0] + d) * load8(b[0] + d);
    acc1 += load8(a[1] + d) * load8(b[1] + d);
    acc2 += load8(a[2] + d) * load8(b[2] + d);
    acc3 += load8(a[3] + d) * load8(b[3] + d);
  }
  out[0] = horizontal_sum(acc0);
  out[1] = horizontal_sum(acc1);
  out[2] = horizontal_sum(acc2);
  out[3] = horizontal_sum(acc3);
  for (; d < n; ++d) {
    for (int x = 0; x < kPairs; ++x)
      out[x] += a[x][d] * b[x][d];
  }
}

// scores[h * n + j] = scale * q_h . k_j for the group's heads and the chunk's keys, taken in key-major order
// four (head, key) pairs at a time: four heads of one key under GQA, four keys of one head under MHA.
// A head's slice of a cache row is head_dim floats, one row every kv_heads * head_dim floats: a few rows per
// page, so the hardware prefetchers lose the stream at every page and decode waits on DRAM latency for each
// key (the KV rows of a layer are cold: a whole step's weights streamed through the caches since). So the
// scoring loop requests K rows kPrefetchRows ahead, and the V row of each key it scores, which the P.V loop
// then finds in cache.
constexpr int64_t kPrefetchRows = 8;

inline void prefetch_row(const float* row, int64_t hd) {
  for (int64_t d = 0; d < hd; d += 16)
    __builtin_prefetch(row + d, 0, 3);
}

inline void compute_scores(const float* q, const float* k, const float* v, int64_t row_stride, int64_t n,
                           int64_t group, int64_t hd, float scale, float* scores) {
  const float* a[kPairs];
  const float* b[kPairs];
  float* dst[kPairs];
  int filled = 0;
  for (int64_t j = 0; j < std::min(n, kPrefetchRows); ++j)
    prefetch_row(k + j * row_stride, hd);
  for (int64_t j = 0; j < n; ++j) {
    if (j + kPrefetchRows < n) prefetch_row(k + (j + kPrefetchRows) * row_stride, hd);
    prefetch_row(v + j * row_stride, hd);
    for (int64_t h = 0; h < group; ++h) {
      a[filled] = q + h * hd;
      b[filled] = k + j * row_stride;
      dst[filled] = scores + h * n + j;
      if (++filled == kPairs) {
        float s[kPairs];
        dot4(a, b, hd, s);
        for (int x = 0; x < kPairs; ++x)
          *dst[x] = scale * s[x];
        filled = 0;
      }
    }
  }
  for (int x = 0; x < filled; ++x)
    *dst[x] = scale * dot(a[x], b[x], hd);
}

inline void axpy(float* y, float alpha, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += alpha * x[i];
}

// out += sum_{j in [j0, j1)} p[j] * v[j]: 32 outputs stay in four registers across the key block, so out is
// loaded and stored once per block rather than once per key, and the block's V rows stay in L1 while every
// query head of the group passes over them.
inline void accumulate_values(const float* p, const float* v, int64_t row_stride, int64_t j0, int64_t j1,
                              int64_t hd, float* out) {
  int64_t d = 0;
  for (; d + 4 * kVec <= hd; d += 4 * kVec) {
    Vec8 c0 = load8(out + d), c1 = load8(out + d + kVec), c2 = load8(out + d + 2 * kVec),
         c3 = load8(out + d + 3 * kVec);
    for (int64_t j = j0; j < j1; ++j) {
      const float* row = v + j * row_stride + d;
      c0 += p[j] * load8(row);
      c1 += p[j] * load8(row + kVec);
      c2 += p[j] * load8(row + 2 * kVec);
      c3 += p[j] * load8(row + 3 * kVec);
    }
    store8(out + d, c0);
    store8(out + d + kVec, c1);
    store8(out + d + 2 * kVec, c2);
    store8(out + d + 3 * kVec, c3);
  }
  for (; d + kVec <= hd; d += kVec) {
    Vec8 c = load8(out + d);
    for (int64_t j = j0; j < j1; ++j)
      c += p[j] * load8(v + j * row_stride + d);
    store8(out + d, c);
  }
  if (d < hd) {
    for (int64_t j = j0; j < j1; ++j)
      axpy(out + d, p[j], v + j * row_stride + d, hd - d);
  }
}

// Turns one query head's scores into unnormalized probabilities in place; returns (max, sum of exps).
inline std::pair<float, double> exponentiate(float* s, int64_t n, float softcap) {
  if (softcap > 0) {
    for (int64_t j = 0; j < n; ++j)
      s[j] = softcap * std::tanh(s[j] / softcap);
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j)
    m = std::max(m, s[j]);
  double sum = 0;
  int64_t j = 0;
  for (; j + cpu_vec::kWidth <= n; j += cpu_vec::kWidth) {
    const Vec8 e = cpu_vec::exp(load8(s + j) - cpu_vec::splat(m));
    store8(s + j, e);
    for (int x = 0; x < cpu_vec::kWidth; ++x)
      sum += e[x];
  }
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return {m, sum};
}

// Per-thread buffers, kept between calls so decode does not allocate.
struct Scratch {
  std::vector<float> floats;                    // scores [group, n], then acc [group, head_dim]
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

  compute_scores(q, k, v, row_stride, n, group, hd, a.scale, scores);
  std::fill(acc, acc + group * hd, 0.0f);
  for (int64_t h = 0; h < group; ++h)
    stats[h] = exponentiate(scores + h * n, n, a.softcap);
  for (int64_t j0 = 0; j0 < n; j0 += kKeyBlock) {
    const int64_t j1 = std::min(n, j0 + kKeyBlock);
    for (int64_t h = 0; h < group; ++h)
      accumulate_values(scores + h * n, v, row_stride, j0, j1, hd, acc + h * hd);
  }

  for (int64_t h = 0; h < group; ++h) {
    const int64_t head = i * p.q_heads + first_head + h;
    if (p.n_chunks == 1) {
      const float inv_sum = static_cast<float>(1.0 / stats[h].second);
      float* out = a.out.as<float>() + head * hd;
      for (int64_t d = 0; d < hd; ++d)
        out[d] = acc[h * hd + d] * inv_sum;
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
    for (int64_t d = 0; d < hd; ++d)
      out[d] *= inv_total;
  }
}

// 0, n-1, 1, n-2, ...: contiguous ranges of this order mix short and long causal rows.
int64_t zigzag(int64_t k, int64_t n) {
  return k % 2 == 0 ? k / 2 : n - 1 - k / 2;
}

void attention_cpu_f32(Backend& backend, const AttentionArgs& args) {
  AttentionArgs a = args;
  if (a.positions.data != nullptr && a.positions.numel() > 0) a.q_pos0 = a.positions.as<const int32_t>()[0];
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
  const double flops =
      4.0 * static_cast<double>(p.t) * max_keys * p.q_heads * std::max<int64_t>(1, p.head_dim);
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

// A byte copy when src has the cache's dtype, so one kernel serves every cache dtype; f32 rows into a bf16
// or f16 cache are rounded to nearest even (core/half.h).
void kv_store_cpu(Backend& backend, const KvStoreArgs& a) {
  const int64_t t = a.src.shape[0], row_elems = a.src.shape[1] * a.src.shape[2];
  if (t == 0 || row_elems == 0) return;
  const size_t row_bytes = static_cast<size_t>(row_elems) * dtype_size(a.cache.dtype);
  const auto* src = static_cast<const uint8_t*>(a.src.data);
  auto* dst = static_cast<uint8_t*>(a.cache.data) + static_cast<size_t>(a.start) * row_bytes;
  const int64_t grain = std::max<int64_t>(1, kMinStoreBytesPerTask / static_cast<int64_t>(row_bytes));
  if (a.src.dtype == a.cache.dtype) {
    cpu_pool(backend).parallel_for(
        t,
        [&](int64_t begin, int64_t end, int) {
          std::memcpy(dst + begin * row_bytes, src + begin * row_bytes, (end - begin) * row_bytes);
        },
        grain);
    return;
  }
  const bool to_bf16 = a.cache.dtype == DType::kBF16;  // else f16; the op admits nothing else
  const float* from = a.src.as<const float>();
  auto* to = reinterpret_cast<uint16_t*>(dst);
  cpu_pool(backend).parallel_for(
      t,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin * row_elems; i < end * row_elems; ++i)
          to[i] = to_bf16 ? f32_to_bf16(from[i]) : f32_to_f16(from[i]);
      },
      grain);
}

const KernelRegistrar<AttentionArgs> kRegisterAttention(DeviceKind::kCpu, DType::kF32, attention_cpu_f32);
const KernelRegistrar<KvStoreArgs> kRegisterStoreF32(DeviceKind::kCpu, DType::kF32, kv_store_cpu);
const KernelRegistrar<KvStoreArgs> kRegisterStoreF16(DeviceKind::kCpu, DType::kF16, kv_store_cpu);
const KernelRegistrar<KvStoreArgs> kRegisterStoreBF16(DeviceKind::kCpu, DType::kBF16, kv_store_cpu);

}  // namespace
}  // namespace autoglm

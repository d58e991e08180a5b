// The row math of the CPU attention kernels, shared by the contiguous (attention.cpp) and the paged
// (paged_attention.cpp) kernels so that a sequence attended through its block table gives bit for bit what
// the contiguous kernel gives over the same rows (batch invariance of the engine depends on it).
//
// A work unit attends n keys for the group = q_heads / kv_heads query heads of one KV head and one query row.
// The keys are reached through a row accessor, rows(j) -> const Element* (the head's head_dim elements of key
// j), so the arithmetic does not depend on where the rows live: StridedRows walks a contiguous cache,
// RowTable a gathered list of f32 row pointers (the paged cache, or rows widened from a narrower type),
// NarrowRows a gathered list of bf16 rows, widened in registers as they are loaded (exactly: the
// arithmetic, and so every bit of the result, is that of the f32 rows the values widen to). f8_e4m3 rows
// are widened into a buffer instead: their in-register widening (~8 vector operations per 8 values, repeated
// for each query head of the group) measured slower than widening each value once (docs/BENCHMARKS.md: decode
// TPOT 132-136 against 114 ms on 2 cores), where bf16's (2 operations) matches f32. Everything
// arithmetic here is always-inline: it takes the target of the kernel function it is inlined into
// (target_clones in both kernels), and both kernels inline it the same way.
//
// Inner loops: scores four (head, key) pairs at a time (four independent FMA chains); P.V over blocks of
// kKeyBlock keys with 32 outputs held in registers, so the block's V rows are read from L1 by every head of
// the group and the output is loaded and stored once per block. 8-float vector extensions (vec_exp.h).
// Accumulation: f32 dot products and outputs; max-subtracted exps (8-lane exp of vec_exp.h, ~2 ulp) summed
// in double. Key chunks (flash-decoding) keep their own max, sum and unnormalized output, merged by
// merge_partials with the usual exp(max_c - max) rescaling.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "backend/cpu/kernels/vec_exp.h"
#include "core/half.h"

// The kernels that inline this code are compiled twice on x86-64 (AVX2+FMA and baseline SSE2, picked at load
// time): prefill attention and GQA decode with many heads per KV head are compute-bound.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AUTOGLM_ATTENTION_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define AUTOGLM_ATTENTION_CLONES
#endif

// The 32-byte vectors never cross a non-inlined call, so the ABI note about them concerns no real call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm::cpu_attention {

constexpr int kPairs = 4;
constexpr int64_t kKeyBlock = 64;
constexpr int64_t kMinKeysPerChunk = 256;
constexpr double kMinParallelFlops = 1 << 17;
// Rows the scoring loop prefetches ahead (see compute_scores).
constexpr int64_t kPrefetchRows = 8;

struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
};

// The keys that the query at position pos attends (HF sliding-window semantics); never empty.
inline KeyRange visible_keys(int64_t pos, int64_t window) {
  return {window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0, pos + 1};
}

// Chunk c of n_chunks near-equal parts of r; empty when r has fewer keys than chunks.
inline KeyRange chunk_of(KeyRange r, int64_t c, int64_t n_chunks) {
  const int64_t n = r.end - r.begin;
  return {r.begin + n * c / n_chunks, r.begin + n * (c + 1) / n_chunks};
}

// 0, n-1, 1, n-2, ...: contiguous ranges of this order mix short and long causal rows.
inline int64_t zigzag(int64_t k, int64_t n) {
  return k % 2 == 0 ? k / 2 : n - 1 - k / 2;
}

// Whether t query rows whose longest row sees max_keys keys are worth the pool.
inline bool worth_parallel(int n_threads, int64_t t, int64_t q_heads, int64_t head_dim, int64_t max_keys) {
  const double flops = 4.0 * static_cast<double>(t) * static_cast<double>(max_keys) *
                       static_cast<double>(q_heads) * static_cast<double>(std::max<int64_t>(1, head_dim));
  return n_threads > 1 && flops >= kMinParallelFlops;
}

// Key chunks per row for t query rows of one sequence: when the t * kv_heads row units do not fill the pool,
// each row's keys are split (decode has only kv_heads units). It depends only on the sequence and the pool
// size, so a sequence is chunked alike whatever else shares its batch.
inline int64_t key_chunks(int n_threads, int64_t t, int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                          int64_t max_keys) {
  const int64_t row_units = t * kv_heads;
  if (!worth_parallel(n_threads, t, q_heads, head_dim, max_keys) || row_units >= n_threads) return 1;
  const int64_t wanted = (n_threads + row_units - 1) / row_units;
  return std::clamp<int64_t>(max_keys / kMinKeysPerChunk, 1, wanted);
}

// Key j at base + j * stride: a contiguous cache.
struct StridedRows {
  using Element = float;
  const float* base;
  int64_t stride;
  AUTOGLM_VEC_INLINE const float* operator()(int64_t j) const { return base + j * stride; }
};

// Key j at rows[j]: rows gathered through a block table, or widened into a buffer.
struct RowTable {
  using Element = float;
  const float* const* rows;
  AUTOGLM_VEC_INLINE const float* operator()(int64_t j) const { return rows[j]; }
};

// A cache element the row math reads as it is, widened in registers.
struct Bf16Element {
  uint16_t bits;
};

// Key j at rows[j], rows of E (Bf16Element) gathered through a block table.
template <typename E>
struct NarrowRows {
  using Element = E;
  const void* const* rows;
  AUTOGLM_VEC_INLINE const E* operator()(int64_t j) const { return static_cast<const E*>(rows[j]); }
};

// Per-thread buffers, kept between calls so decode does not allocate.
struct Scratch {
  std::vector<float> floats;                    // scores [group, n], then acc [group, head_dim]
  std::vector<std::pair<float, double>> stats;  // (max, sum of exps) per query head of the group
  std::vector<const float*> rows;               // K row pointers [n], then V row pointers [n] (paged)
  std::vector<const void*> narrow_rows;         // the same, of bf16 rows read as they are
  std::vector<float> widened;                   // K rows [n, head_dim], then V rows (f16 / f8_e4m3 caches)
};

using Vec8 = cpu_vec::Vec8;
constexpr int kVec = cpu_vec::kWidth;

// Eight consecutive elements of a row as f32, and element d alone: exact for every element type.
AUTOGLM_VEC_INLINE Vec8 load_row8(const float* p) {
  return cpu_vec::load(p);
}
AUTOGLM_VEC_INLINE Vec8 load_row8(const Bf16Element* p) {
  using U16x8 = uint16_t __attribute__((vector_size(16)));
  using U32x8 = uint32_t __attribute__((vector_size(32)));
  U16x8 h;
  std::memcpy(&h, p, sizeof h);
  const U32x8 w = __builtin_convertvector(h, U32x8) << 16;  // bf16 is the top half of an f32
  Vec8 v;
  std::memcpy(&v, &w, sizeof v);
  return v;
}
AUTOGLM_VEC_INLINE float row_value(const float* p, int64_t d) {
  return p[d];
}
AUTOGLM_VEC_INLINE float row_value(const Bf16Element* p, int64_t d) {
  return bf16_to_f32(p[d].bits);
}

AUTOGLM_VEC_INLINE float horizontal_sum(Vec8 v) {
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
  return v[0];
}

template <typename E>
AUTOGLM_VEC_INLINE float dot(const float* a, const E* b, int64_t n) {
  Vec8 acc{};
  int64_t d = 0;
  for (; d + kVec <= n; d += kVec)
    acc += cpu_vec::load(a + d) * load_row8(b + d);
  float sum = horizontal_sum(acc);
  for (; d < n; ++d)
    sum += a[d] * row_value(b, d);
  return sum;
}

// Four dot products at once: four independent FMA chains hide the add latency one chain waits on.
template <typename E>
AUTOGLM_VEC_INLINE void dot4(const float* const a[kPairs], const E* const b[kPairs], int64_t n,
                             float out[kPairs]) {
  Vec8 acc0{}, acc1{}, acc2{}, acc3{};
  int64_t d = 0;
  for (; d + kVec <= n; d += kVec) {
    acc0 += cpu_vec::load(a[0] + d) * load_row8(b[0] + d);
    acc1 += cpu_vec::load(a[1] + d) * load_row8(b[1] + d);
    acc2 += cpu_vec::load(a[2] + d) * load_row8(b[2] + d);
    acc3 += cpu_vec::load(a[3] + d) * load_row8(b[3] + d);
  }
  out[0] = horizontal_sum(acc0);
  out[1] = horizontal_sum(acc1);
  out[2] = horizontal_sum(acc2);
  out[3] = horizontal_sum(acc3);
  for (; d < n; ++d) {
    for (int x = 0; x < kPairs; ++x)
      out[x] += a[x][d] * row_value(b[x], d);
  }
}

// One request per 64-byte line of the row's head_dim elements.
template <typename E>
AUTOGLM_VEC_INLINE void prefetch_row(const E* row, int64_t hd) {
  constexpr int64_t kPerLine = 64 / static_cast<int64_t>(sizeof(E));
  for (int64_t d = 0; d < hd; d += kPerLine)
    __builtin_prefetch(row + d, 0, 3);
}

// scores[h * n + j] = scale * q_h . k_j for the group's heads and the unit's keys, taken in key-major order
// four (head, key) pairs at a time: four heads of one key under GQA, four keys of one head under MHA.
// A head's slice of a cache row is head_dim floats, one row every kv_heads * head_dim floats: a few rows per
// page, so the hardware prefetchers lose the stream at every page and decode waits on DRAM latency for each
// key (the KV rows of a layer are cold: a whole step's weights streamed through the caches since). So the
// scoring loop requests K rows kPrefetchRows ahead, and the V row of each key it scores, which the P.V loop
// then finds in cache.
template <typename Rows>
AUTOGLM_VEC_INLINE void compute_scores(const float* q, const Rows& k, const Rows& v, int64_t n, int64_t group,
                                       int64_t hd, float scale, float* scores) {
  const float* a[kPairs];
  const typename Rows::Element* b[kPairs];
  float* dst[kPairs];
  int filled = 0;
  for (int64_t j = 0; j < std::min(n, kPrefetchRows); ++j)
    prefetch_row(k(j), hd);
  for (int64_t j = 0; j < n; ++j) {
    if (j + kPrefetchRows < n) prefetch_row(k(j + kPrefetchRows), hd);
    prefetch_row(v(j), hd);
    for (int64_t h = 0; h < group; ++h) {
      a[filled] = q + h * hd;
      b[filled] = k(j);
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

template <typename E>
AUTOGLM_VEC_INLINE void axpy(float* y, float alpha, const E* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += alpha * row_value(x, i);
}

// out += sum_{j in [j0, j1)} p[j] * v[j]: 32 outputs stay in four registers across the key block, so out is
// loaded and stored once per block rather than once per key, and the block's V rows stay in L1 while every
// query head of the group passes over them.
template <typename Rows>
AUTOGLM_VEC_INLINE void accumulate_values(const float* p, const Rows& v, int64_t j0, int64_t j1, int64_t hd,
                                          float* out) {
  int64_t d = 0;
  for (; d + 4 * kVec <= hd; d += 4 * kVec) {
    Vec8 c0 = cpu_vec::load(out + d), c1 = cpu_vec::load(out + d + kVec),
         c2 = cpu_vec::load(out + d + 2 * kVec), c3 = cpu_vec::load(out + d + 3 * kVec);
    for (int64_t j = j0; j < j1; ++j) {
      const typename Rows::Element* row = v(j) + d;
      c0 += p[j] * load_row8(row);
      c1 += p[j] * load_row8(row + kVec);
      c2 += p[j] * load_row8(row + 2 * kVec);
      c3 += p[j] * load_row8(row + 3 * kVec);
    }
    cpu_vec::store(out + d, c0);
    cpu_vec::store(out + d + kVec, c1);
    cpu_vec::store(out + d + 2 * kVec, c2);
    cpu_vec::store(out + d + 3 * kVec, c3);
  }
  for (; d + kVec <= hd; d += kVec) {
    Vec8 c = cpu_vec::load(out + d);
    for (int64_t j = j0; j < j1; ++j)
      c += p[j] * load_row8(v(j) + d);
    cpu_vec::store(out + d, c);
  }
  if (d < hd) {
    for (int64_t j = j0; j < j1; ++j)
      axpy(out + d, p[j], v(j) + d, hd - d);
  }
}

// Turns one query head's scores into unnormalized probabilities in place; returns (max, sum of exps).
AUTOGLM_VEC_INLINE std::pair<float, double> exponentiate(float* s, int64_t n, float softcap) {
  if (softcap > 0) {
    for (int64_t j = 0; j < n; ++j)
      s[j] = softcap * std::tanh(s[j] / softcap);
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j)
    m = std::max(m, s[j]);
  double sum = 0;
  int64_t j = 0;
  for (; j + kVec <= n; j += kVec) {
    const Vec8 e = cpu_vec::exp(cpu_vec::load(s + j) - cpu_vec::splat(m));
    cpu_vec::store(s + j, e);
    for (int x = 0; x < kVec; ++x)
      sum += e[x];
  }
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return {m, sum};
}

// Attends n keys (k(0..n), v(0..n)) for the group query heads at q (head_dim floats apart). Leaves the
// unnormalized outputs in acc() [group, hd] and (max, sum of exps) per head in scratch.stats.
struct UnitResult {
  const float* acc;                       // [group, hd]
  const std::pair<float, double>* stats;  // [group]
};

template <typename Rows>
AUTOGLM_VEC_INLINE UnitResult attend_keys(const float* q, const Rows& k, const Rows& v, int64_t n,
                                          int64_t group, int64_t hd, float scale, float softcap,
                                          Scratch& scratch) {
  scratch.floats.resize(static_cast<size_t>(group * (n + hd)));
  scratch.stats.resize(static_cast<size_t>(group));
  float* scores = scratch.floats.data();
  float* acc = scores + group * n;
  auto& stats = scratch.stats;
  compute_scores(q, k, v, n, group, hd, scale, scores);
  std::fill(acc, acc + group * hd, 0.0f);
  for (int64_t h = 0; h < group; ++h)
    stats[h] = exponentiate(scores + h * n, n, softcap);
  for (int64_t j0 = 0; j0 < n; j0 += kKeyBlock) {
    const int64_t j1 = std::min(n, j0 + kKeyBlock);
    for (int64_t h = 0; h < group; ++h)
      accumulate_values(scores + h * n, v, j0, j1, hd, acc + h * hd);
  }
  return {acc, stats.data()};
}

// One head of a unit that holds all of its row's keys: out = acc / sum.
AUTOGLM_VEC_INLINE void write_normalized(float* out, const float* acc, std::pair<float, double> stat,
                                         int64_t hd) {
  const float inv_sum = static_cast<float>(1.0 / stat.second);
  for (int64_t d = 0; d < hd; ++d)
    out[d] = acc[d] * inv_sum;
}

// One head of a unit that holds one chunk of its row's keys: its slot of the partials.
inline void write_partial(float* part_out, float* part_stats, const float* acc, std::pair<float, double> stat,
                          int64_t hd) {
  std::memcpy(part_out, acc, static_cast<size_t>(hd) * sizeof(float));
  part_stats[0] = stat.first;
  part_stats[1] = static_cast<float>(stat.second);
}

// out = sum_c exp(max_c - max) * part_out_c / sum_c exp(max_c - max) * sum_c over the n_chunks chunks of one
// head (part_out [n_chunks, hd], part_stats [n_chunks, 2]), skipping empty chunks. Plain (not inlined into
// the cloned kernels) in both kernels, so it compiles one way.
inline void merge_partials(const float* part_out, const float* part_stats, int64_t n_chunks, int64_t hd,
                           float* out) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < n_chunks; ++c) {
    if (part_stats[2 * c + 1] > 0) m = std::max(m, part_stats[2 * c]);
  }
  std::fill(out, out + hd, 0.0f);
  double total = 0;
  for (int64_t c = 0; c < n_chunks; ++c) {
    if (!(part_stats[2 * c + 1] > 0)) continue;
    const float weight = std::exp(part_stats[2 * c] - m);
    total += static_cast<double>(weight) * part_stats[2 * c + 1];
    axpy(out, weight, part_out + c * hd, hd);
  }
  const float inv_total = static_cast<float>(1.0 / total);
  for (int64_t d = 0; d < hd; ++d)
    out[d] *= inv_total;
}

}  // namespace autoglm::cpu_attention

#pragma GCC diagnostic pop

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
// Inner loops (attention_rows.h, shared with the paged kernel, which gives bit for bit these results):
//   scores four (head, key) pairs at a time (four independent FMA chains); P.V over blocks of kKeyBlock keys
//   with 32 outputs held in registers, so the block's V rows are read from L1 by every head of the group and
//   the output is loaded and stored once per block. Both use 8-float vector extensions and are compiled twice
//   on x86-64 (AVX2+FMA and baseline SSE2, picked at load time), because prefill attention and GQA decode
//   with many heads per KV head are compute-bound.
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
#include "backend/cpu/kernels/attention_rows.h"
#include "core/half.h"
#include "ops/attention.h"
#include "ops/kernel_table.h"

// Vec8 only passes between inlined functions (attention_rows.h), so the note that 32-byte vectors change the
// calling convention without AVX concerns no real call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm {
namespace {

using namespace cpu_attention;

constexpr int64_t kMinStoreBytesPerTask = 1 << 18;

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
  return visible_keys(a.q_pos0 + i, a.window);
}

AUTOGLM_ATTENTION_CLONES
void attend_unit(const AttentionArgs& a, const Plan& p, int64_t i, int64_t g, int64_t c, Scratch& scratch) {
  const KeyRange keys = chunk_of(row_keys(a, i), c, p.n_chunks);
  const int64_t n = keys.end - keys.begin, hd = p.head_dim, group = p.group;
  const int64_t first_head = g * group;
  const float* q = a.q.as<const float>() + (i * p.q_heads + first_head) * hd;
  const int64_t row_stride = p.kv_heads * hd;
  const StridedRows k{a.k_cache.as<const float>() + keys.begin * row_stride + g * hd, row_stride};
  const StridedRows v{a.v_cache.as<const float>() + keys.begin * row_stride + g * hd, row_stride};
  const UnitResult r = attend_keys(q, k, v, n, group, hd, a.scale, a.softcap, scratch);

  for (int64_t h = 0; h < group; ++h) {
    const int64_t head = i * p.q_heads + first_head + h;
    if (p.n_chunks == 1) {
      write_normalized(a.out.as<float>() + head * hd, r.acc + h * hd, r.stats[h], hd);
    } else {
      const int64_t slot = head * p.n_chunks + c;
      write_partial(p.part_out + slot * hd, p.part_stats + 2 * slot, r.acc + h * hd, r.stats[h], hd);
    }
  }
}

void merge_chunks(const AttentionArgs& a, const Plan& p) {
  const int64_t hd = p.head_dim;
  for (int64_t head = 0; head < p.t * p.q_heads; ++head) {
    merge_partials(p.part_out + head * p.n_chunks * hd, p.part_stats + head * p.n_chunks * 2, p.n_chunks, hd,
                   a.out.as<float>() + head * hd);
  }
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
  const bool parallel = worth_parallel(pool.n_threads(), p.t, p.q_heads, p.head_dim, max_keys);
  p.n_chunks = key_chunks(pool.n_threads(), p.t, p.q_heads, p.kv_heads, p.head_dim, max_keys);
  // Lives on the calling thread and keeps its capacity: decode calls this once per layer and token.
  thread_local std::vector<float> partials;
  if (p.n_chunks > 1) {
    const int64_t slots = p.t * p.q_heads * p.n_chunks;
    partials.resize(static_cast<size_t>(slots * (p.head_dim + 2)));
    p.part_out = partials.data();
    p.part_stats = p.part_out + slots * p.head_dim;
  }

  const int64_t n_units = p.t * p.kv_heads * p.n_chunks;
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

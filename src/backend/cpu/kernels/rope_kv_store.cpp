// rope_kv_store, CPU: RoPE of q and k, and the K/V rows of new tokens written to cache rows slots[i] (when
// given: a paged cache) or positions[i]; f32, bf16, f16 or f8_e4m3 caches. The angle always comes from
// positions[i].
//
// Layout: q, q_out [t, q_heads, head_dim]; k, v [t, kv_heads, head_dim]; caches [capacity, kv_heads,
//   head_dim], token i's rows at cache row slots[i], or positions[i] without slots. kNeox pairs
//   (j, j + rotary_dim/2), kInterleaved pairs (2j, 2j + 1); dims >= rotary_dim pass through. q_out may be q.
// Math: rope_rows.h, shared with the rope kernel (rope.cpp), so q_out and an f32 cache hold exactly what rope
//   followed by kv_store writes: each head is copied to its destination (q_out, the f32 cache row, or a
//   scratch row for a narrower cache) and rotated there; bf16 / f16 / f8_e4m3 rows are then rounded to
//   nearest even (core/half.h, core/fp8.h), as kv_store's conversion.
// Threading: tokens split over the pool in blocks of >= kMinElemsPerTask elements; decode runs inline.
//   Cache rows of one call are distinct in every caller (n_past + i, or distinct slots); with a repeated row,
//   which token's row lands is unspecified.
// Floor: (2 * q + k + v + 2 cache rows) bytes / memory bandwidth, plus t * rotary_dim trig calls.
// Reference: ref/rope_kv_store_ref.cpp (rope_ref and a converting row copy).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/rope_rows.h"
#include "core/fp8.h"
#include "core/half.h"
#include "ops/kernel_table.h"
#include "ops/rope_kv_store.h"

namespace autoglm {
namespace {

constexpr int64_t kMinElemsPerTask = 16384;

// n f32 values into a cache of dtype kCache at element offset `at`: a copy for f32, rounded for bf16 / f16
// / f8_e4m3.
template <DType kCache>
void store_row(const float* src, const TensorView& cache, int64_t at, int64_t n) {
  if constexpr (kCache == DType::kF32) {
    std::memcpy(cache.as<float>() + at, src, static_cast<size_t>(n) * sizeof(float));
  } else if constexpr (kCache == DType::kF8E4M3) {
    uint8_t* dst = cache.as<uint8_t>() + at;
    for (int64_t i = 0; i < n; ++i)
      dst[i] = f32_to_fp8_e4m3(src[i]);
  } else {
    static_assert(kCache == DType::kBF16 || kCache == DType::kF16);
    uint16_t* dst = cache.as<uint16_t>() + at;
    for (int64_t i = 0; i < n; ++i)
      dst[i] = kCache == DType::kBF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  }
}

template <DType kCache>
void rope_kv_store_tokens(const RopeKvStoreArgs& a, int64_t begin, int64_t end) {
  const RopeKvStoreInputs in = rope_kv_store_inputs(a);
  const int64_t q_heads = in.q_heads, kv_heads = in.kv_heads, head_dim = in.head_dim;
  const int64_t half = a.rotary_dim / 2, kv_row = kv_heads * head_dim;
  const int32_t* positions = a.positions.as<const int32_t>();
  const int32_t* rows = a.slots.data != nullptr ? a.slots.as<const int32_t>() : positions;
  const float* inv_freq = a.inv_freq.as<const float>();
  constexpr bool kF32Cache = kCache == DType::kF32;
  // cos | sin | a scratch head row for k on its way to a bf16 / f16 cache.
  std::vector<float> scratch(2 * static_cast<size_t>(half) + static_cast<size_t>(head_dim));
  float* cos_t = scratch.data();
  float* sin_t = cos_t + half;
  float* k_row = sin_t + half;
  for (int64_t t = begin; t < end; ++t) {
    cpu_rope::fill_table(positions[t], inv_freq, half, cos_t, sin_t);
    for (int64_t h = 0; h < q_heads; ++h) {
      const float* x = in.q + t * in.q_stride + h * head_dim;
      float* y = a.q_out.as<float>() + (t * q_heads + h) * head_dim;
      if (y != x) std::memcpy(y, x, static_cast<size_t>(head_dim) * sizeof(float));
      cpu_rope::rotate_row(a.layout, y, cos_t, sin_t, half);
    }
    const int64_t cache_at = static_cast<int64_t>(rows[t]) * kv_row;
    for (int64_t h = 0; h < kv_heads; ++h) {
      const float* x = in.k + t * in.kv_stride + h * head_dim;
      float* y = kF32Cache ? a.k_cache.as<float>() + cache_at + h * head_dim : k_row;
      std::memcpy(y, x, static_cast<size_t>(head_dim) * sizeof(float));
      cpu_rope::rotate_row(a.layout, y, cos_t, sin_t, half);
      if (!kF32Cache) store_row<kCache>(k_row, a.k_cache, cache_at + h * head_dim, head_dim);
    }
    store_row<kCache>(in.v + t * in.kv_stride, a.v_cache, cache_at, kv_row);
  }
}

template <DType kCache>
void rope_kv_store_cpu(Backend& backend, const RopeKvStoreArgs& a) {
  const int64_t t = a.q_out.shape[0];
  const int64_t token_elems =
      std::max<int64_t>(1, (a.q_out.shape[1] + 2 * a.k_cache.shape[1]) * a.q_out.shape[2]);
  const int64_t grain = std::max<int64_t>(1, kMinElemsPerTask / token_elems);
  cpu_pool(backend).parallel_for(
      t, [&](int64_t begin, int64_t end, int) { rope_kv_store_tokens<kCache>(a, begin, end); }, grain);
}

const KernelRegistrar<RopeKvStoreArgs> kRegisterF32(DeviceKind::kCpu, DType::kF32,
                                                    rope_kv_store_cpu<DType::kF32>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterBF16(DeviceKind::kCpu, DType::kBF16,
                                                     rope_kv_store_cpu<DType::kBF16>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterF16(DeviceKind::kCpu, DType::kF16,
                                                    rope_kv_store_cpu<DType::kF16>);
const KernelRegistrar<RopeKvStoreArgs> kRegisterF8(DeviceKind::kCpu, DType::kF8E4M3,
                                                   rope_kv_store_cpu<DType::kF8E4M3>);

}  // namespace
}  // namespace autoglm

// rope_kv_store on the CPU backend: bit for bit what rope on q and k followed by kv_store of each token's k
// and v row at cache row positions[i] writes (the composition the decoder graph used before the fusion), for
// both layouts, full and partial rotary (GLM: interleaved, half rotary), t = 1, 3, 17, GQA, and positions
// that neither start at 0 nor run contiguously ({5, 2, 9}), so the rows provably come from positions. bf16 /
// f16 caches hold the host rounding (core/half.h) of the f32 results; cache rows not named by positions keep
// their sentinel bytes; q_out in place; agreement with the double reference; slots (a paged cache: rows from
// slots, angles from positions, which may then lie past the cache); q, k and v packed in one [t, q | k | v]
// input; and the argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/rope_kv_store_ref.h"
#include "core/fp8.h"
#include "core/half.h"
#include "ops/attention.h"
#include "ops/rope.h"
#include "ops/rope_kv_store.h"
#include "support/guarded_output.h"
#include "support/rope_inputs.h"
#include "support/rope_kv_problem.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::kCacheSentinel16;
using test::kCacheSentinel32;
using test::sentinel_cache;

using test::bits_of;
using test::GuardedOut;
using test::make_cpu;
using test::rel_max_abs_error;
using test::to_f32;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

using Problem = test::RopeKvProblem;
using test::make_rope_kv_problem;
using test::rope_kv_cache_shape;

// What the unfused ops write: rope on q and k, then kv_store of token i's rows at positions[i].
struct Composed {
  Tensor q_out, k_rot, k_cache, v_cache;
};

Composed compose(Backend& cpu, const Problem& p, DType cache_dtype) {
  Composed c{Tensor::host(DType::kF32, p.q.shape()), Tensor::host(DType::kF32, p.k.shape()),
             sentinel_cache(cache_dtype, rope_kv_cache_shape(p)),
             sentinel_cache(cache_dtype, rope_kv_cache_shape(p))};
  EXPECT_TRUE(
      rope(cpu, {p.q.view(), p.positions.view(), p.inv_freq.view(), p.rotary_dim, p.layout, c.q_out.view()})
          .is_ok());
  EXPECT_TRUE(
      rope(cpu, {p.k.view(), p.positions.view(), p.inv_freq.view(), p.rotary_dim, p.layout, c.k_rot.view()})
          .is_ok());
  for (int64_t i = 0; i < p.k.shape()[0]; ++i) {
    const int64_t row = p.positions.as<int32_t>()[i];
    EXPECT_TRUE(kv_store(cpu, {c.k_rot.view().rows(i, i + 1), c.k_cache.view(), row}).is_ok());
    EXPECT_TRUE(kv_store(cpu, {p.v.view().rows(i, i + 1), c.v_cache.view(), row}).is_ok());
  }
  return c;
}

RopeKvStoreArgs args_of(const Problem& p, const TensorView& q_out, const Tensor& k_cache,
                        const Tensor& v_cache) {
  return {p.q.view(),   p.k.view(), p.v.view(), p.positions.view(), p.inv_freq.view(),
          p.rotary_dim, p.layout,   q_out,      k_cache.view(),     v_cache.view()};
}

// Rows of a cache that no position names still hold the sentinel.
void expect_unnamed_rows_untouched(const Problem& p, const Tensor& cache) {
  const int64_t row_elems = cache.shape()[1] * cache.shape()[2];
  const int32_t* positions = p.positions.as<int32_t>();
  for (int64_t row = 0; row < p.capacity; ++row) {
    if (std::find(positions, positions + p.positions.numel(), row) != positions + p.positions.numel())
      continue;
    for (int64_t e = 0; e < row_elems; ++e) {
      const int64_t at = row * row_elems + e;
      if (cache.dtype() == DType::kF32) {
        ASSERT_EQ(bits_of(cache.as<float>()[at]), kCacheSentinel32) << "row " << row << " element " << e;
      } else {
        ASSERT_EQ(cache.as<uint16_t>()[at], kCacheSentinel16) << "row " << row << " element " << e;
      }
    }
  }
}

struct Heads {
  int64_t q_heads, kv_heads, head_dim;
  int rotary_dim;
};
using Param = std::tuple<RopeLayout, int64_t, Heads>;  // layout, t, heads
class RopeKvStoreSizes : public ::testing::TestWithParam<Param> {};

TEST_P(RopeKvStoreSizes, EqualsRopeThenKvStore) {
  const auto [layout, t, h] = GetParam();
  auto cpu = make_cpu();
  const Problem p = make_rope_kv_problem(layout, t, h.q_heads, h.kv_heads, h.head_dim, h.rotary_dim,
                                         static_cast<uint64_t>(100 + t * 31 + h.head_dim + h.rotary_dim));
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE("cache " + std::string(dtype_name(dtype)));
    const Composed want = compose(*cpu, p, dtype);
    GuardedOut q_out(p.q.shape());
    Tensor k_cache = sentinel_cache(dtype, rope_kv_cache_shape(p)),
           v_cache = sentinel_cache(dtype, rope_kv_cache_shape(p));
    ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_out.view(), k_cache, v_cache)).is_ok());
    q_out.expect_clean();
    const std::vector<float> got_q = q_out.values();
    ASSERT_EQ(std::memcmp(got_q.data(), want.q_out.data(), want.q_out.nbytes()), 0) << "q_out";
    EXPECT_TRUE(same_bytes(k_cache, want.k_cache)) << "k_cache";
    EXPECT_TRUE(same_bytes(v_cache, want.v_cache)) << "v_cache";
    expect_unnamed_rows_untouched(p, k_cache);
    expect_unnamed_rows_untouched(p, v_cache);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RopeKvStoreSizes,
                         ::testing::Combine(::testing::Values(RopeLayout::kNeox, RopeLayout::kInterleaved),
                                            ::testing::Values(int64_t{1}, int64_t{3}, int64_t{17}),
                                            ::testing::Values(Heads{4, 2, 64, 64},  // GQA, full rotary
                                                              Heads{4, 2, 64, 32},  // GLM: half rotary
                                                              Heads{3, 3, 10,
                                                                    4},  // MHA, odd pair count, short rotary
                                                              Heads{2, 1, 128, 128})));

// Bound-check: the value of bf16, f16 and f8_e4m3 cache rows is the host rounding of the f32-cache result.
TEST(RopeKvStore, NarrowCachesHoldHostRoundingOfF32) {
  auto cpu = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Problem p = make_rope_kv_problem(layout, 3, 4, 2, 64, 32, 700);
    GuardedOut q_out(p.q.shape());
    Tensor k32 = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
           v32 = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
    ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_out.view(), k32, v32)).is_ok());
    for (const DType dtype : {DType::kBF16, DType::kF16, DType::kF8E4M3}) {
      SCOPED_TRACE(dtype_name(dtype));
      Tensor kn = sentinel_cache(dtype, rope_kv_cache_shape(p)),
             vn = sentinel_cache(dtype, rope_kv_cache_shape(p));
      ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_out.view(), kn, vn)).is_ok());
      const int64_t row_elems = k32.shape()[1] * k32.shape()[2];
      // Element e of a narrow cache and the rounding of an f32 value to its type, as integers.
      const auto stored = [&](const Tensor& c, int64_t e) -> uint32_t {
        return dtype == DType::kF8E4M3 ? c.as<uint8_t>()[e] : c.as<uint16_t>()[e];
      };
      const auto rounded = [&](float x) -> uint32_t {
        if (dtype == DType::kF8E4M3) return f32_to_fp8_e4m3(x);
        return dtype == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
      };
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t row = p.positions.as<int32_t>()[i];
        for (int64_t e = row * row_elems; e < (row + 1) * row_elems; ++e) {
          ASSERT_EQ(stored(kn, e), rounded(k32.as<float>()[e])) << "k element " << e;
          ASSERT_EQ(stored(vn, e), rounded(v32.as<float>()[e])) << "v element " << e;
        }
      }
    }
  }
}

TEST(RopeKvStore, MatchesDoubleReference) {
  auto cpu = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Problem p = make_rope_kv_problem(layout, 17, 8, 2, 128, 64, 710);
    GuardedOut q_out(p.q.shape());
    Tensor k_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
           v_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
    ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_out.view(), k_cache, v_cache)).is_ok());
    Tensor q_ref = Tensor::host(DType::kF32, p.q.shape());
    Tensor k_ref = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
           v_ref = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
    rope_kv_store_ref(args_of(p, q_ref.view(), k_ref, v_ref));
    EXPECT_LE(rel_max_abs_error(q_out.values(), to_f32(q_ref.view())), 1e-5);
    // Sentinel NaNs sit in the same places on both sides; compare the named rows only.
    for (int64_t i = 0; i < 17; ++i) {
      const int64_t row = p.positions.as<int32_t>()[i];
      const auto rows = [&](const Tensor& c) { return to_f32(c.view().rows(row, row + 1)); };
      EXPECT_LE(rel_max_abs_error(rows(k_cache), rows(k_ref)), 1e-5) << "k row " << row;
      EXPECT_EQ(rows(v_cache), rows(v_ref)) << "v row " << row;
    }
  }
}

TEST(RopeKvStore, InPlaceQ) {
  auto cpu = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Problem p = make_rope_kv_problem(layout, 17, 4, 2, 64, 32, 720);
    const Composed want = compose(*cpu, p, DType::kBF16);
    Tensor q = Tensor::host(DType::kF32, p.q.shape());
    std::memcpy(q.data(), p.q.data(), p.q.nbytes());
    Tensor k_cache = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)),
           v_cache = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p));
    RopeKvStoreArgs args = args_of(p, q.view(), k_cache, v_cache);
    args.q = q.view();
    ASSERT_TRUE(rope_kv_store(*cpu, args).is_ok());
    EXPECT_TRUE(same_bytes(q, want.q_out)) << "q rotated in place";
    EXPECT_TRUE(same_bytes(k_cache, want.k_cache));
    EXPECT_TRUE(same_bytes(v_cache, want.v_cache));
  }
}

TEST(RopeKvStore, EmptyCallWritesNothing) {
  auto cpu = make_cpu();
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 0, 4, 2, 64, 64, 730);
  GuardedOut q_out(p.q.shape());
  Tensor k_cache = sentinel_cache(DType::kF16, rope_kv_cache_shape(p)),
         v_cache = sentinel_cache(DType::kF16, rope_kv_cache_shape(p));
  const Tensor before = sentinel_cache(DType::kF16, rope_kv_cache_shape(p));
  ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_out.view(), k_cache, v_cache)).is_ok());
  q_out.expect_clean();
  EXPECT_TRUE(same_bytes(k_cache, before));
  EXPECT_TRUE(same_bytes(v_cache, before));
}

// Distinct cache rows in [0, capacity) for t tokens, none equal to its token's position where possible.
Tensor make_slots(int64_t t, int64_t capacity, uint64_t seed) {
  Tensor slots = Tensor::host(DType::kI32, Shape{t});
  std::vector<int32_t> rows(static_cast<size_t>(capacity));
  std::iota(rows.begin(), rows.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::copy(rows.begin(), rows.begin() + t, slots.as<int32_t>());
  return slots;
}

// Rows of `cache` named by `rows` hold the bytes of `want`'s rows named by `want_rows`, token by token;
// every other row of `cache` still holds the sentinel.
void expect_rows_moved(const Tensor& cache, const Tensor& rows, const Tensor& want, const Tensor& want_rows) {
  const size_t row_bytes =
      static_cast<size_t>(cache.shape()[1] * cache.shape()[2]) * dtype_size(cache.dtype());
  const auto* got = static_cast<const uint8_t*>(cache.data());
  const auto* expected = static_cast<const uint8_t*>(want.data());
  const Tensor sentinel = sentinel_cache(cache.dtype(), cache.shape());
  const auto* untouched = static_cast<const uint8_t*>(sentinel.data());
  std::vector<bool> named(static_cast<size_t>(cache.shape()[0]), false);
  for (int64_t i = 0; i < rows.numel(); ++i) {
    const int64_t row = rows.as<int32_t>()[i], want_row = want_rows.as<int32_t>()[i];
    named[static_cast<size_t>(row)] = true;
    EXPECT_EQ(std::memcmp(got + row * row_bytes, expected + want_row * row_bytes, row_bytes), 0)
        << "token " << i << " at row " << row;
  }
  for (int64_t row = 0; row < cache.shape()[0]; ++row) {
    if (named[static_cast<size_t>(row)]) continue;
    EXPECT_EQ(std::memcmp(got + row * row_bytes, untouched + row * row_bytes, row_bytes), 0)
        << "row " << row << " named by no slot";
  }
}

// With slots, token i's rows land at slots[i] and hold what the slot-less call writes at positions[i]: the
// angle still comes from positions.
TEST(RopeKvStore, SlotsPickTheCacheRows) {
  auto cpu = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    for (const int64_t t : {1, 3, 17}) {
      const Problem p = make_rope_kv_problem(layout, t, 4, 2, 64, 32, static_cast<uint64_t>(750 + t));
      const Tensor slots = make_slots(t, p.capacity, static_cast<uint64_t>(760 + t));
      for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " t " + std::to_string(t));
        GuardedOut q_plain(p.q.shape());
        Tensor k_plain = sentinel_cache(dtype, rope_kv_cache_shape(p)),
               v_plain = sentinel_cache(dtype, rope_kv_cache_shape(p));
        ASSERT_TRUE(rope_kv_store(*cpu, args_of(p, q_plain.view(), k_plain, v_plain)).is_ok());
        GuardedOut q_out(p.q.shape());
        Tensor k_cache = sentinel_cache(dtype, rope_kv_cache_shape(p)),
               v_cache = sentinel_cache(dtype, rope_kv_cache_shape(p));
        RopeKvStoreArgs args = args_of(p, q_out.view(), k_cache, v_cache);
        args.slots = slots.view();
        ASSERT_TRUE(rope_kv_store(*cpu, args).is_ok());
        q_out.expect_clean();
        EXPECT_EQ(q_out.values(), q_plain.values()) << "q_out";
        expect_rows_moved(k_cache, slots, k_plain, p.positions);
        expect_rows_moved(v_cache, slots, v_plain, p.positions);
      }
    }
  }
}

// The [t, q | k | v] rows of a fused projection, as rope_kv_store's packed qkv input.
Tensor pack_qkv(const Problem& p) {
  const int64_t t = p.q.shape()[0], q_row = p.q.shape()[1] * p.q.shape()[2];
  const int64_t kv_row = p.k.shape()[1] * p.k.shape()[2];
  Tensor qkv = Tensor::host(DType::kF32, Shape{t, q_row + 2 * kv_row});
  for (int64_t i = 0; i < t; ++i) {
    float* row = qkv.as<float>() + i * (q_row + 2 * kv_row);
    std::memcpy(row, p.q.as<const float>() + i * q_row, static_cast<size_t>(q_row) * sizeof(float));
    std::memcpy(row + q_row, p.k.as<const float>() + i * kv_row, static_cast<size_t>(kv_row) * sizeof(float));
    std::memcpy(row + q_row + kv_row, p.v.as<const float>() + i * kv_row,
                static_cast<size_t>(kv_row) * sizeof(float));
  }
  return qkv;
}

// q, k and v given as the column blocks of one packed input write exactly what the three tensors write.
TEST(RopeKvStore, PackedQkvEqualsSeparateTensors) {
  auto cpu = make_cpu();
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    for (const int64_t t : {1, 3, 17}) {
      const Problem p = make_rope_kv_problem(layout, t, 4, 2, 64, 32, static_cast<uint64_t>(780 + t));
      const Tensor slots = make_slots(t, p.capacity, static_cast<uint64_t>(790 + t));
      const Tensor qkv = pack_qkv(p);
      for (const DType dtype : {DType::kF32, DType::kBF16}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " t " + std::to_string(t));
        GuardedOut q_plain(p.q.shape());
        Tensor k_plain = sentinel_cache(dtype, rope_kv_cache_shape(p)),
               v_plain = sentinel_cache(dtype, rope_kv_cache_shape(p));
        RopeKvStoreArgs plain = args_of(p, q_plain.view(), k_plain, v_plain);
        plain.slots = slots.view();
        ASSERT_TRUE(rope_kv_store(*cpu, plain).is_ok());
        GuardedOut q_out(p.q.shape());
        Tensor k_cache = sentinel_cache(dtype, rope_kv_cache_shape(p)),
               v_cache = sentinel_cache(dtype, rope_kv_cache_shape(p));
        RopeKvStoreArgs packed = args_of(p, q_out.view(), k_cache, v_cache);
        packed.q = packed.k = packed.v = TensorView{};
        packed.slots = slots.view();
        packed.qkv = qkv.view();
        const Status s = rope_kv_store(*cpu, packed);
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        q_out.expect_clean();
        EXPECT_EQ(q_out.values(), q_plain.values()) << "q_out";
        EXPECT_EQ(std::memcmp(k_cache.data(), k_plain.data(), k_plain.nbytes()), 0) << "k_cache";
        EXPECT_EQ(std::memcmp(v_cache.data(), v_plain.data(), v_plain.nbytes()), 0) << "v_cache";
      }
    }
  }
}

TEST(RopeKvStore, RejectsBadPackedQkv) {
  auto cpu = make_cpu();
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 3, 4, 2, 64, 32, 795);
  const Tensor qkv = pack_qkv(p);
  Tensor q_out = Tensor::host(DType::kF32, p.q.shape());
  Tensor k_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
         v_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
  RopeKvStoreArgs both = args_of(p, q_out.view(), k_cache, v_cache);
  both.qkv = qkv.view();  // q, k and v still given as well
  EXPECT_EQ(rope_kv_store(*cpu, both).code(), StatusCode::kInvalidArgument);
  RopeKvStoreArgs narrow = args_of(p, q_out.view(), k_cache, v_cache);
  narrow.q = narrow.k = narrow.v = TensorView{};
  narrow.qkv = qkv.view().reshaped(Shape{3 * 2, qkv.shape()[1] / 2});  // not [t, (4 + 2 * 2) * 64]
  EXPECT_EQ(rope_kv_store(*cpu, narrow).code(), StatusCode::kInvalidArgument);
  RopeKvStoreArgs aliased = narrow;
  aliased.qkv = qkv.view();
  aliased.q_out = TensorView{qkv.data(), DType::kF32, p.q.shape(), Device{}};  // q_out inside qkv
  EXPECT_EQ(rope_kv_store(*cpu, aliased).code(), StatusCode::kInvalidArgument);
}

// Positions past the cache are fine with slots (a paged cache is smaller than a long sequence): they only
// give the angle. The rows equal rope at those positions followed by kv_store at the slots.
TEST(RopeKvStore, SlotsWithPositionsPastTheCache) {
  auto cpu = make_cpu();
  Problem p = make_rope_kv_problem(RopeLayout::kInterleaved, 3, 4, 2, 64, 32, 770);
  const int32_t far[] = {100000, 5000, 70000};
  std::copy(std::begin(far), std::end(far), p.positions.as<int32_t>());
  const Tensor slots = make_slots(3, p.capacity, 771);
  Tensor q_out = Tensor::host(DType::kF32, p.q.shape()), k_rot = Tensor::host(DType::kF32, p.k.shape());
  ASSERT_TRUE(
      rope(*cpu, {p.q.view(), p.positions.view(), p.inv_freq.view(), p.rotary_dim, p.layout, q_out.view()})
          .is_ok());
  ASSERT_TRUE(
      rope(*cpu, {p.k.view(), p.positions.view(), p.inv_freq.view(), p.rotary_dim, p.layout, k_rot.view()})
          .is_ok());
  Tensor k_want = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)),
         v_want = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p));
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t row = slots.as<int32_t>()[i];
    ASSERT_TRUE(kv_store(*cpu, {k_rot.view().rows(i, i + 1), k_want.view(), row}).is_ok());
    ASSERT_TRUE(kv_store(*cpu, {p.v.view().rows(i, i + 1), v_want.view(), row}).is_ok());
  }
  GuardedOut got_q(p.q.shape());
  Tensor k_cache = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)),
         v_cache = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p));
  RopeKvStoreArgs args = args_of(p, got_q.view(), k_cache, v_cache);
  args.slots = slots.view();
  ASSERT_TRUE(rope_kv_store(*cpu, args).is_ok());
  EXPECT_EQ(std::memcmp(got_q.values().data(), q_out.data(), q_out.nbytes()), 0) << "q_out";
  EXPECT_TRUE(same_bytes(k_cache, k_want)) << "k_cache";
  EXPECT_TRUE(same_bytes(v_cache, v_want)) << "v_cache";
}

TEST(RopeKvStore, RejectsBadSlots) {
  auto cpu = make_cpu();
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 3, 4, 2, 8, 8, 780);
  const Tensor q_out = Tensor::host(DType::kF32, p.q.shape());
  const Tensor k_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
               v_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
  const Tensor slots = make_slots(3, p.capacity, 781);
  RopeKvStoreArgs good = args_of(p, q_out.view(), k_cache, v_cache);
  good.slots = slots.view();
  ASSERT_TRUE(rope_kv_store(*cpu, good).is_ok());
  const auto expect_invalid = [&](const RopeKvStoreArgs& bad, const char* what) {
    const Status s = rope_kv_store(*cpu, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what << ": " << s.to_string();
    EXPECT_NE(s.message().find("slots"), std::string::npos) << what << ": " << s.message();
  };
  RopeKvStoreArgs bad = good;
  bad.slots.dtype = DType::kF32;
  expect_invalid(bad, "f32 slots");
  bad = good;
  bad.slots = slots.view().rows(0, 2);
  expect_invalid(bad, "slots length");
  bad = good;
  bad.slots = slots.view().reshaped(Shape{1, 3});
  expect_invalid(bad, "slots rank");
  bad = good;
  bad.slots.device = Device{DeviceKind::kCuda, 0};
  expect_invalid(bad, "slots on another device");
  Tensor cache_with_slots = Tensor::host(DType::kF32, Shape{p.capacity + 1, 2, 8});
  bad = good;
  bad.k_cache = cache_with_slots.view().rows(0, p.capacity);
  bad.slots = TensorView{cache_with_slots.data(), DType::kI32, Shape{3}, cache_with_slots.device()};
  expect_invalid(bad, "slots inside k_cache");
  Tensor wrong = Tensor::host(DType::kI32, Shape{3});
  for (const int32_t outside : {static_cast<int32_t>(p.capacity), -1}) {
    std::copy(slots.as<int32_t>(), slots.as<int32_t>() + 3, wrong.as<int32_t>());
    wrong.as<int32_t>()[2] = outside;
    bad = good;
    bad.slots = wrong.view();
    expect_invalid(bad, "slot outside the cache");
  }
}

TEST(RopeKvStore, RejectsBadArguments) {
  auto cpu = make_cpu();
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 3, 4, 2, 8, 8, 740);
  const Tensor q_out = Tensor::host(DType::kF32, p.q.shape());
  const Tensor k_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p)),
               v_cache = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
  const RopeKvStoreArgs good = args_of(p, q_out.view(), k_cache, v_cache);
  ASSERT_TRUE(rope_kv_store(*cpu, good).is_ok());
  const auto expect_invalid = [&](const RopeKvStoreArgs& bad, const char* what) {
    const Status s = rope_kv_store(*cpu, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what << ": " << s.to_string();
    EXPECT_NE(s.message().find("rope_kv_store"), std::string::npos) << what << ": " << s.message();
  };
  RopeKvStoreArgs bad = good;
  bad.q.dtype = DType::kBF16;
  expect_invalid(bad, "bf16 q");
  bad = good;
  bad.k.dtype = DType::kF16;
  expect_invalid(bad, "f16 k");
  bad = good;
  bad.v.dtype = DType::kBF16;
  expect_invalid(bad, "bf16 v");
  bad = good;
  bad.q_out.dtype = DType::kBF16;
  expect_invalid(bad, "bf16 q_out");
  bad = good;
  bad.positions.dtype = DType::kF32;
  expect_invalid(bad, "f32 positions");
  bad = good;
  bad.inv_freq.dtype = DType::kF16;
  expect_invalid(bad, "f16 inv_freq");
  bad = good;
  bad.v_cache.dtype = DType::kBF16;
  expect_invalid(bad, "v_cache dtype differs from k_cache");
  bad = good;
  bad.q = p.q.view().reshaped(Shape{3, 32});
  expect_invalid(bad, "q rank");
  bad = good;
  bad.k_cache = k_cache.view().reshaped(Shape{p.capacity, 16});
  expect_invalid(bad, "k_cache rank");
  bad = good;
  bad.k = p.k.view().rows(0, 2);
  expect_invalid(bad, "k tokens != q tokens");
  bad = good;
  bad.k = p.k.view().reshaped(Shape{3, 1, 16});
  expect_invalid(bad, "k head_dim != q head_dim");
  bad = good;
  bad.v = p.v.view().reshaped(Shape{3, 4, 4});
  expect_invalid(bad, "v shape != k shape");
  bad = good;
  bad.k_cache = k_cache.view().reshaped(Shape{p.capacity * 2, 1, 8});
  bad.v_cache = v_cache.view().reshaped(Shape{p.capacity * 2, 1, 8});
  expect_invalid(bad, "cache kv_heads != k kv_heads");
  bad = good;
  bad.v_cache = v_cache.view().rows(0, p.capacity - 1);
  expect_invalid(bad, "v_cache shape != k_cache shape");
  bad = good;
  bad.positions = p.positions.view().rows(0, 2);
  expect_invalid(bad, "positions length");
  bad = good;
  bad.q_out = q_out.view().reshaped(Shape{3, 8, 4});
  expect_invalid(bad, "q_out shape");
  bad = good;
  bad.rotary_dim = 0;
  expect_invalid(bad, "rotary_dim unset");
  bad = good;
  bad.rotary_dim = 7;
  expect_invalid(bad, "odd rotary_dim");
  bad = good;
  bad.rotary_dim = 10;
  expect_invalid(bad, "rotary_dim > head_dim");
  bad = good;
  bad.rotary_dim = 4;
  expect_invalid(bad, "inv_freq size != rotary_dim / 2");
  bad = good;
  bad.layout = static_cast<RopeLayout>(7);
  expect_invalid(bad, "layout");
  bad = good;
  bad.inv_freq.device = Device{DeviceKind::kCuda, 0};
  expect_invalid(bad, "device");

  // Aliasing: q_out may be q exactly, nothing else may share bytes.
  bad = good;
  bad.q_out = TensorView{p.k.data(), DType::kF32, p.q.shape(), p.k.device()};
  expect_invalid(bad, "q_out over k");
  bad = good;
  Tensor big_q = Tensor::host(DType::kF32, Shape{p.q.numel() + 8});
  std::memcpy(big_q.data(), p.q.data(), p.q.nbytes());
  bad.q = TensorView{big_q.data(), DType::kF32, p.q.shape(), p.q.device()};
  bad.q_out = TensorView{big_q.as<float>() + 8, DType::kF32, p.q.shape(), p.q.device()};
  expect_invalid(bad, "q_out a shifted overlap of q");
  bad = good;
  bad.v_cache = k_cache.view();
  expect_invalid(bad, "v_cache is k_cache");
  bad = good;
  Tensor v_in_cache = Tensor::host(DType::kF32, Shape{p.capacity + 3, 2, 8});
  bad.k_cache = v_in_cache.view().rows(0, p.capacity);
  bad.v = v_in_cache.view().rows(p.capacity - 1, p.capacity + 2);
  expect_invalid(bad, "v inside k_cache");
  bad = good;
  bad.k_cache = TensorView{q_out.data(), DType::kF32, Shape{3, 2, 8}, q_out.device()};
  bad.v_cache = TensorView{q_out.as<float>() + 48, DType::kF32, Shape{3, 2, 8}, q_out.device()};
  expect_invalid(bad, "caches inside q_out");

  // Host positions outside the cache are refused before anything is written.
  Tensor positions = Tensor::host(DType::kI32, Shape{3});
  for (const int32_t wrong : {static_cast<int32_t>(p.capacity), -1}) {
    std::copy(p.positions.as<int32_t>(), p.positions.as<int32_t>() + 3, positions.as<int32_t>());
    positions.as<int32_t>()[1] = wrong;
    bad = good;
    bad.positions = positions.view();
    expect_invalid(bad, "position outside the cache");
  }

  // A cache dtype without a kernel.
  const Tensor i32_cache = Tensor::host(DType::kI32, rope_kv_cache_shape(p)),
               i32_v = Tensor::host(DType::kI32, rope_kv_cache_shape(p));
  bad = good;
  bad.k_cache = i32_cache.view();
  bad.v_cache = i32_v.view();
  EXPECT_EQ(rope_kv_store(*cpu, bad).code(), StatusCode::kUnsupported) << "no i32 cache kernel";
}

}  // namespace
}  // namespace autoglm

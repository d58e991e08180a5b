// attention and kv_store on the CPU backend. attention against the triple-loop reference
// (kernels/ref/attention_ref.cpp): decode over 4096 cached rows (with the key range split across threads),
// prefill with and without a cached prefix, GQA/MQA/MHA, several head_dims, sliding windows, softcap; cache
// rows past the valid range hold NaN so any read of them shows. Checks that need no reference: one cached
// row returns v, window 1 returns the own position's v, q = 0 averages exactly the rows the mask admits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/kernels/ref/attention_ref.h"
#include "core/half.h"
#include "ops/attention.h"
#include "support/guarded_output.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

using test::random_tensor;
using test::rel_max_abs_error;

constexpr double kTolerance = 1e-5;
using test::GuardedOut;
using test::make_cpu;

struct Problem {
  Tensor q, k_cache, v_cache;
};

// Cache rows [0, q_pos0 + t) random, rows past them NaN (the kernel must never read them).
Problem make_problem(int64_t t, int64_t q_pos0, int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                     uint64_t seed) {
  const int64_t valid = q_pos0 + t, capacity = valid + 3;
  Problem p;
  p.q = random_tensor(DType::kF32, Shape{t, q_heads, head_dim}, seed);
  p.k_cache = random_tensor(DType::kF32, Shape{capacity, kv_heads, head_dim}, seed + 1);
  p.v_cache = random_tensor(DType::kF32, Shape{capacity, kv_heads, head_dim}, seed + 2);
  for (const Tensor* cache : {&p.k_cache, &p.v_cache}) {
    std::fill(cache->as<float>() + valid * kv_heads * head_dim, cache->as<float>() + cache->numel(), NAN);
  }
  return p;
}

std::vector<float> reference(AttentionArgs args) {
  std::vector<float> want(static_cast<size_t>(args.q.numel()));
  args.out = TensorView{want.data(), DType::kF32, args.q.shape, Device{}};
  attention_ref(args);
  return want;
}

struct Case {
  int64_t t, q_pos0, q_heads, kv_heads, head_dim, window;
  float softcap;
};

void expect_matches_reference(Backend& backend, const Case& c) {
  const Problem p = make_problem(c.t, c.q_pos0, c.q_heads, c.kv_heads, c.head_dim, 400 + c.t + c.head_dim);
  GuardedOut out(p.q.shape());
  AttentionArgs args{p.q.view(), p.k_cache.view(), p.v_cache.view(), c.q_pos0,
                     0.0f,       c.window,         c.softcap,        out.view()};
  // With a softcap, unscaled scores (|q.k| up to ~head_dim / 3) make the cap bend them noticeably.
  args.scale = c.softcap > 0 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  ASSERT_TRUE(attention(backend, args).is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), reference(args)), kTolerance);
}

// t, q_pos0 / heads q:kv / head_dim / window / softcap
using AttentionParam =
    std::tuple<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>, int64_t, int64_t, float>;
class AttentionCases : public ::testing::TestWithParam<AttentionParam> {};

TEST_P(AttentionCases, MatchesReference) {
  const auto [rows, heads, head_dim, window, softcap] = GetParam();
  auto backend = make_cpu();
  expect_matches_reference(*backend,
                           {rows.first, rows.second, heads.first, heads.second, head_dim, window, softcap});
}

INSTANTIATE_TEST_SUITE_P(DecodePrefill, AttentionCases,
                         ::testing::Combine(::testing::Values(std::pair<int64_t, int64_t>{1, 4095},
                                                              std::pair<int64_t, int64_t>{1, 0},
                                                              std::pair<int64_t, int64_t>{37, 0},
                                                              std::pair<int64_t, int64_t>{37, 11}),
                                            ::testing::Values(std::pair<int64_t, int64_t>{8, 2},
                                                              std::pair<int64_t, int64_t>{6, 1},
                                                              std::pair<int64_t, int64_t>{4, 4}),
                                            ::testing::Values(16, 64, 128), ::testing::Values(0, 5, 16),
                                            ::testing::Values(0.0f, 30.0f)));

// Decode with fewer units than threads splits each row's keys into chunks and merges them; odd thread
// counts make the chunks uneven.
TEST(Attention, DecodeSplitAcrossThreadsMatchesReference) {
  for (const int n_threads : {1, 3, 5}) {
    auto backend = make_cpu(n_threads);
    for (const Case& c : {Case{1, 4095, 8, 2, 128, 0, 0.0f}, Case{1, 5000, 6, 1, 64, 0, 30.0f},
                          Case{1, 4095, 8, 2, 128, 1000, 0.0f}, Case{2, 700, 4, 1, 80, 0, 0.0f}}) {
      SCOPED_TRACE("threads " + std::to_string(n_threads) + " q_pos0 " + std::to_string(c.q_pos0));
      expect_matches_reference(*backend, c);
    }
  }
}

TEST(Attention, LongPrefillMatchesReference) {
  auto backend = make_cpu();
  expect_matches_reference(*backend, {300, 40, 4, 2, 64, 0, 0.0f});
  expect_matches_reference(*backend, {300, 40, 4, 2, 64, 64, 0.0f});
}

TEST(Attention, OneCachedRowReturnsV) {
  auto backend = make_cpu();
  const Problem p = make_problem(1, 0, 8, 2, 64, 501);
  GuardedOut out(p.q.shape());
  ASSERT_TRUE(
      attention(*backend, {p.q.view(), p.k_cache.view(), p.v_cache.view(), 0, 0.125f, 0, 0.0f, out.view()})
          .is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  for (int64_t h = 0; h < 8; ++h) {
    for (int64_t d = 0; d < 64; ++d)
      ASSERT_EQ(got[h * 64 + d], p.v_cache.as<float>()[(h / 4) * 64 + d]);
  }
}

TEST(Attention, WindowOneReturnsOwnV) {
  auto backend = make_cpu();
  const int64_t t = 37, q_pos0 = 11, q_heads = 6, kv_heads = 3, head_dim = 16;
  const Problem p = make_problem(t, q_pos0, q_heads, kv_heads, head_dim, 601);
  GuardedOut out(p.q.shape());
  ASSERT_TRUE(attention(*backend,
                        {p.q.view(), p.k_cache.view(), p.v_cache.view(), q_pos0, 0.25f, 1, 0.0f, out.view()})
                  .is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t h = 0; h < q_heads; ++h) {
      const float* v = p.v_cache.as<float>() + ((q_pos0 + i) * kv_heads + h / 2) * head_dim;
      for (int64_t d = 0; d < head_dim; ++d)
        ASSERT_EQ(got[(i * q_heads + h) * head_dim + d], v[d]);
    }
  }
}

// q = 0 gives equal scores, so each output is the plain mean of the V rows the mask admits: the sliding
// window's off-by-one and the causal edge show without any reference.
TEST(Attention, ZeroQueryAveragesVisibleRows) {
  auto backend = make_cpu();
  const int64_t t = 9, q_pos0 = 6, kv_heads = 2, head_dim = 16;
  Problem p = make_problem(t, q_pos0, kv_heads, kv_heads, head_dim, 701);
  std::fill(p.q.as<float>(), p.q.as<float>() + p.q.numel(), 0.0f);
  for (const int64_t window : {0, 1, 5, 100}) {
    GuardedOut out(p.q.shape());
    ASSERT_TRUE(attention(*backend, {p.q.view(), p.k_cache.view(), p.v_cache.view(), q_pos0, 1.0f, window,
                                     0.0f, out.view()})
                    .is_ok());
    const std::vector<float> got = out.values();
    for (int64_t i = 0; i < t; ++i) {
      const int64_t pos = q_pos0 + i, first = window == 0 ? 0 : std::max<int64_t>(0, pos - window + 1);
      for (int64_t h = 0; h < kv_heads; ++h) {
        for (int64_t d = 0; d < head_dim; ++d) {
          double mean = 0;
          for (int64_t j = first; j <= pos; ++j)
            mean += p.v_cache.as<float>()[(j * kv_heads + h) * head_dim + d];
          mean /= static_cast<double>(pos - first + 1);
          ASSERT_NEAR(got[(i * kv_heads + h) * head_dim + d], mean, 1e-6)
              << "window " << window << " row " << i;
        }
      }
    }
  }
}

TEST(Attention, RejectsBadArguments) {
  auto backend = make_cpu();
  const Problem p = make_problem(3, 4, 4, 2, 16, 801);  // capacity 10
  const Tensor out = Tensor::host(DType::kF32, Shape{3, 4, 16});
  const AttentionArgs good{p.q.view(), p.k_cache.view(), p.v_cache.view(), 4, 0.25f, 0, 0.0f, out.view()};
  ASSERT_TRUE(attention(*backend, good).is_ok());

  AttentionArgs bad = good;
  bad.q = p.q.view().reshaped(Shape{3, 2, 32});
  bad.out = out.view().reshaped(Shape{3, 2, 32});
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "head_dim differs from cache";
  bad = good;
  bad.q = p.q.view().reshaped(Shape{2, 6, 16});
  bad.out = out.view().reshaped(Shape{2, 6, 16});
  bad.k_cache = p.k_cache.view().reshaped(Shape{5, 4, 16});
  bad.v_cache = p.v_cache.view().reshaped(Shape{5, 4, 16});
  bad.q_pos0 = 0;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "q_heads not a multiple of kv_heads";
  bad = good;
  bad.v_cache = p.v_cache.view().rows(0, 9);
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "v_cache shape differs from k_cache";
  bad = good;
  bad.q_pos0 = 8;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "q_pos0 + t > capacity";
  bad = good;
  bad.q_pos0 = -1;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "negative q_pos0";
  bad = good;
  bad.window = -2;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "negative window";
  bad = good;
  bad.softcap = -1.0f;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "negative softcap";
  bad = good;
  bad.out = p.q.view();
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "out aliases q";
  bad = good;
  bad.k_cache.dtype = DType::kF16;
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "cache dtype";
  bad = good;
  bad.out = out.view().reshaped(Shape{4, 3, 16});
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "out shape";
  bad = good;
  bad.q.device = Device{DeviceKind::kCuda, 0};
  EXPECT_FALSE(attention(*backend, bad).is_ok()) << "device";
}

// kv_store writes exactly rows [start, start + t) and leaves every other cache row as it was.
Tensor positions_of(int64_t q_pos0, int64_t t) {
  Tensor positions = Tensor::host(DType::kI32, Shape{t});
  for (int64_t i = 0; i < t; ++i)
    positions.as<int32_t>()[i] = static_cast<int32_t>(q_pos0 + i);
  return positions;
}

// The CPU reads q_pos0 from positions[0] (host memory here): the same answer, bit for bit, as without.
TEST(Attention, PositionsGivenMatchNotGiven) {
  for (const int n_threads : {1, 3}) {
    auto backend = make_cpu(n_threads);
    for (const Case& c : {Case{1, 4095, 8, 2, 128, 0, 0.0f}, Case{2, 700, 4, 1, 80, 64, 0.0f},
                          Case{1, 0, 4, 4, 16, 0, 30.0f}, Case{37, 11, 8, 2, 64, 16, 0.0f}}) {
      SCOPED_TRACE("threads " + std::to_string(n_threads) + " t " + std::to_string(c.t) + " q_pos0 " +
                   std::to_string(c.q_pos0));
      const Problem p = make_problem(c.t, c.q_pos0, c.q_heads, c.kv_heads, c.head_dim, 850 + c.t);
      const Tensor positions = positions_of(c.q_pos0, c.t);
      GuardedOut without(p.q.shape()), with(p.q.shape());
      AttentionArgs args{p.q.view(), p.k_cache.view(), p.v_cache.view(), c.q_pos0,
                         0.125f,     c.window,         c.softcap,        without.view()};
      ASSERT_TRUE(attention(*backend, args).is_ok());
      args.out = with.view();
      args.positions = positions.view();
      ASSERT_TRUE(attention(*backend, args).is_ok());
      with.expect_clean();
      without.expect_clean();
      EXPECT_EQ(with.values(), without.values());
      EXPECT_LE(rel_max_abs_error(with.values(), reference(args)), kTolerance);
    }
  }
}

TEST(Attention, RejectsBadPositions) {
  auto backend = make_cpu();
  const Problem p = make_problem(3, 4, 4, 2, 16, 861);  // capacity 10
  Tensor out = Tensor::host(DType::kF32, Shape{3, 4, 16});
  const Tensor positions = positions_of(4, 3);
  const AttentionArgs good{p.q.view(), p.k_cache.view(), p.v_cache.view(), 4, 0.25f, 0,
                           0.0f,       out.view(),       positions.view()};
  ASSERT_TRUE(attention(*backend, good).is_ok());

  AttentionArgs bad = good;
  const Tensor f32_positions = random_tensor(DType::kF32, Shape{3}, 862);
  bad.positions = f32_positions.view();
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "f32 positions";
  bad = good;
  const Tensor four = positions_of(4, 4);
  bad.positions = four.view();
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "positions [4] for t = 3";
  bad = good;
  bad.positions = four.view().reshaped(Shape{1, 4});
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "positions of rank 2";
  bad = good;
  bad.positions.device = Device{DeviceKind::kCuda, 0};
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "positions on another device";
  bad = good;
  bad.positions = TensorView{out.data(), DType::kI32, Shape{3}, Device{}};
  EXPECT_EQ(attention(*backend, bad).code(), StatusCode::kInvalidArgument) << "positions alias out";
}

TEST(KvStore, WritesExactlyItsRows) {
  auto backend = make_cpu();
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const auto& [t, start] : {std::pair<int64_t, int64_t>{7, 5}, {1, 0}, {1, 19}, {20, 0}, {0, 20}}) {
      const int64_t capacity = 20, kv_heads = 2, head_dim = 24;
      const Tensor src = random_tensor(dtype, Shape{t, kv_heads, head_dim}, 901 + t);
      const Tensor before = random_tensor(dtype, Shape{capacity, kv_heads, head_dim}, 902);
      Tensor cache = Tensor::host(dtype, before.shape());
      std::memcpy(cache.data(), before.data(), before.nbytes());
      ASSERT_TRUE(kv_store(*backend, {src.view(), cache.view(), start}).is_ok());
      const size_t row_bytes = static_cast<size_t>(kv_heads * head_dim) * dtype_size(dtype);
      const auto* got = static_cast<const uint8_t*>(cache.data());
      const auto* old = static_cast<const uint8_t*>(before.data());
      for (int64_t r = 0; r < capacity; ++r) {
        const bool stored = r >= start && r < start + t;
        const void* want =
            stored ? static_cast<const uint8_t*>(src.data()) + (r - start) * row_bytes : old + r * row_bytes;
        ASSERT_EQ(std::memcmp(got + r * row_bytes, want, row_bytes), 0)
            << dtype_name(dtype) << " row " << r << (stored ? " not stored" : " overwritten");
      }
      // The reference agrees byte for byte.
      Tensor ref_cache = Tensor::host(dtype, before.shape());
      std::memcpy(ref_cache.data(), before.data(), before.nbytes());
      kv_store_ref({src.view(), ref_cache.view(), start});
      ASSERT_EQ(std::memcmp(ref_cache.data(), cache.data(), cache.nbytes()), 0);
    }
  }
}

// f32 rows into a bf16 or f16 cache are rounded to nearest even exactly as core/half.h does, on one thread
// and split across threads, and the reference agrees; rows outside [start, start + t) stay as they were.
TEST(KvStore, ConvertsF32IntoHalfCaches) {
  for (const int n_threads : {1, 4}) {
    auto backend = make_cpu(n_threads);
    for (const DType dtype : {DType::kBF16, DType::kF16}) {
      for (const auto& [t, start] : {std::pair<int64_t, int64_t>{7, 5}, {1, 19}, {0, 3}, {3000, 1000}}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " threads " + std::to_string(n_threads) + " t " +
                     std::to_string(t));
        const int64_t capacity = 4096, kv_heads = 2, head_dim = 24, row = kv_heads * head_dim;
        Tensor src = random_tensor(DType::kF32, Shape{t, kv_heads, head_dim}, 950 + t, -70000.0f, 70000.0f);
        if (t > 3) {
          src.as<float>()[0] = NAN;
          src.as<float>()[1] = -INFINITY;
          src.as<float>()[2] = 1e-30f;
          src.as<float>()[3] = -0.0f;
        }
        const Tensor before = random_tensor(dtype, Shape{capacity, kv_heads, head_dim}, 951);
        Tensor cache = Tensor::host(dtype, before.shape());
        std::memcpy(cache.data(), before.data(), before.nbytes());
        const Status stored = kv_store(*backend, {src.view(), cache.view(), start});
        ASSERT_TRUE(stored.is_ok()) << stored.to_string();
        const auto* got = cache.as<const uint16_t>();
        const auto* old = before.as<const uint16_t>();
        for (int64_t i = 0; i < cache.numel(); ++i) {
          const int64_t r = i / row;
          uint16_t want = old[i];
          if (r >= start && r < start + t) {
            const float x = src.as<const float>()[i - start * row];
            want = dtype == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
          }
          ASSERT_EQ(got[i], want) << "element " << i << " row " << r;
        }
        Tensor ref_cache = Tensor::host(dtype, before.shape());
        std::memcpy(ref_cache.data(), before.data(), before.nbytes());
        kv_store_ref({src.view(), ref_cache.view(), start});
        ASSERT_EQ(std::memcmp(ref_cache.data(), cache.data(), cache.nbytes()), 0);
      }
    }
  }
}

// The CPU keeps only the exact f32 attention: a bf16 cache is a clear "no kernel", a mixed pair invalid.
TEST(Attention, HalfCachesOnTheCpu) {
  auto backend = make_cpu();
  const Problem p = make_problem(3, 4, 4, 2, 16, 811);
  const Tensor out = Tensor::host(DType::kF32, Shape{3, 4, 16});
  const Tensor k16 = random_tensor(DType::kBF16, p.k_cache.shape(), 812);
  const Tensor v16 = random_tensor(DType::kBF16, p.v_cache.shape(), 813);
  AttentionArgs args{p.q.view(), k16.view(), v16.view(), 4, 0.25f, 0, 0.0f, out.view()};
  EXPECT_EQ(attention(*backend, args).code(), StatusCode::kUnsupported) << "bf16 caches";
  args.v_cache = p.v_cache.view();
  EXPECT_EQ(attention(*backend, args).code(), StatusCode::kInvalidArgument) << "bf16 k with f32 v";
  args = AttentionArgs{p.q.view(), p.k_cache.view(), p.v_cache.view(), 4, 0.25f, 0, 0.0f, out.view()};
  const Tensor q16 = random_tensor(DType::kBF16, Shape{3, 4, 16}, 814);
  args.q = q16.view();
  EXPECT_EQ(attention(*backend, args).code(), StatusCode::kInvalidArgument) << "bf16 q";
}

TEST(KvStore, RejectsBadArguments) {
  auto backend = make_cpu();
  const Tensor src = random_tensor(DType::kF32, Shape{4, 2, 8}, 1);
  const Tensor cache = Tensor::host(DType::kF32, Shape{10, 2, 8});
  const KvStoreArgs good{src.view(), cache.view(), 6};
  ASSERT_TRUE(kv_store(*backend, good).is_ok());

  KvStoreArgs bad = good;
  bad.start = 7;
  EXPECT_EQ(kv_store(*backend, bad).code(), StatusCode::kInvalidArgument) << "start + t > capacity";
  bad = good;
  bad.start = -1;
  EXPECT_FALSE(kv_store(*backend, bad).is_ok()) << "negative start";
  bad = good;
  bad.src = src.view().reshaped(Shape{4, 1, 16});
  EXPECT_FALSE(kv_store(*backend, bad).is_ok()) << "row shape";
  bad = good;
  bad.src.dtype = DType::kF16;
  EXPECT_FALSE(kv_store(*backend, bad).is_ok()) << "dtype differs from the cache";
  const Tensor half_src = random_tensor(DType::kF16, Shape{4, 2, 8}, 2);
  const Tensor bf16_cache = Tensor::host(DType::kBF16, Shape{10, 2, 8});
  EXPECT_EQ(kv_store(*backend, {half_src.view(), bf16_cache.view(), 0}).code(), StatusCode::kInvalidArgument)
      << "f16 into bf16: only f32 converts";
  const Tensor bf16_src = random_tensor(DType::kBF16, Shape{4, 2, 8}, 3);
  EXPECT_EQ(kv_store(*backend, {bf16_src.view(), cache.view(), 0}).code(), StatusCode::kInvalidArgument)
      << "bf16 into f32: no widening";
  bad = good;
  bad.src = src.view().reshaped(Shape{64});
  EXPECT_FALSE(kv_store(*backend, bad).is_ok()) << "rank";
  bad = good;
  bad.src = cache.view().rows(0, 4);
  EXPECT_FALSE(kv_store(*backend, bad).is_ok()) << "src inside the cache";
  bad = good;
  bad.src = src.view().reshaped(Shape{4, 2, 8});
  bad.src.dtype = DType::kI32;
  bad.cache.dtype = DType::kI32;
  EXPECT_EQ(kv_store(*backend, bad).code(), StatusCode::kUnsupported) << "no i32 cache kernel";
}

}  // namespace
}  // namespace autoglm

// rope_kv_store on the GPU against the CPU op on host copies of the same inputs: f32 / bf16 / f16 caches,
// both layouts, full and half rotary, head_dim 64 / 128 / 80, t = 1, 5, 130, GQA, positions shuffled and not
// starting at 0 (so the rows provably come from positions), Llama-3-8B's decode shape at the last cache row,
// q in place, and a q off float2 alignment (the scalar interleaved path).
//   q_out and rotated f32 k: within 1e-5 of the CPU (test_rope.cpp's tolerance: sincosf vs sinf/cosf, and
//     the GPU fuses the rotation's multiply-adds); dims past rotary_dim bit for bit.
//   v rows, and every cache row no position names (sentinel bytes): byte-exact.
//   rotated k in a bf16 / f16 cache: the GPU's f32 value differs from the CPU's by a few ulp, which may tip
//     the rounding to the neighbouring code, so the value is checked against the CPU's f32 within 1.5 steps
//     of the cache dtype (and most codes equal); with inv_freq = 0 the rotation is exact on both sides
//     and the k rows are then byte-exact: the conversion itself rounds as the host.
// Slots (a paged cache): rows from slots, angles from positions that lie past the cache; a slot outside the
// cache is skipped on the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/fp8.h"
#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/rope_kv_store.h"
#include "support/rope_inputs.h"
#include "support/rope_kv_problem.h"

namespace autoglm {
namespace {

using test::make_inv_freq;
using test::make_positions;
using test::sentinel_cache;

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::rel_max_abs_error;
using test::to_device;
using test::to_f32;
using test::to_host;

constexpr double kTolerance = 1e-5;

using Problem = test::RopeKvProblem;
using test::make_rope_kv_problem;
using test::rope_kv_cache_shape;

std::string describe(const Problem& p, DType dtype) {
  return std::string(dtype_name(dtype)) + " cache, q " + p.q.shape().to_string() + " k " +
         p.k.shape().to_string() + " rotary_dim " + std::to_string(p.rotary_dim) +
         (p.layout == RopeLayout::kNeox ? " neox" : " interleaved");
}

// The CPU op on host copies: q_out and both caches (sentinel-filled before).
struct HostResult {
  Tensor q_out, k_cache, v_cache;
};

HostResult run_cpu(const Problem& p, DType dtype, const Tensor* slots = nullptr) {
  auto cpu = make_cpu();
  HostResult r{Tensor::host(DType::kF32, p.q.shape()), sentinel_cache(dtype, rope_kv_cache_shape(p)),
               sentinel_cache(dtype, rope_kv_cache_shape(p))};
  RopeKvStoreArgs args{p.q.view(),   p.k.view(), p.v.view(),     p.positions.view(), p.inv_freq.view(),
                       p.rotary_dim, p.layout,   r.q_out.view(), r.k_cache.view(),   r.v_cache.view()};
  if (slots != nullptr) args.slots = slots->view();
  const Status s = rope_kv_store(*cpu, args);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return r;
}

bool is_named(const Problem& p, int64_t row) {
  const int32_t* positions = p.positions.as<int32_t>();
  return std::find(positions, positions + p.positions.numel(), row) != positions + p.positions.numel();
}

// The k cache of the GPU against the CPU's: unnamed rows and pass-through dims byte-exact; rotated dims
// within kTolerance (f32) or 1.5 steps of the cache dtype of the CPU's f32 value (bf16 / f16 / f8_e4m3).
void check_k_cache(const Problem& p, DType dtype, const Tensor& got, const HostResult& want,
                   const HostResult& want_f32) {
  const int64_t head_dim = p.k.shape()[2], row_elems = p.k.shape()[1] * head_dim;
  const size_t elem = dtype_size(dtype);
  const auto* got_bytes = static_cast<const uint8_t*>(got.data());
  const auto* want_bytes = static_cast<const uint8_t*>(want.k_cache.data());
  std::vector<float> got_rot, want_rot;
  int64_t codes_differ = 0;
  for (int64_t row = 0; row < p.capacity; ++row) {
    const bool named = is_named(p, row);
    for (int64_t e = row * row_elems; e < (row + 1) * row_elems; ++e) {
      const bool rotated = named && e % head_dim < p.rotary_dim;
      if (!rotated) {
        ASSERT_EQ(std::memcmp(got_bytes + e * elem, want_bytes + e * elem, elem), 0)
            << (named ? "pass-through dim" : "unnamed row") << ", row " << row << " element "
            << e % row_elems;
        continue;
      }
      const float ref = want_f32.k_cache.as<float>()[e];
      want_rot.push_back(ref);
      if (dtype == DType::kF32) {
        got_rot.push_back(got.as<float>()[e]);
        continue;
      }
      if (dtype == DType::kF8E4M3) {
        const uint8_t code = got.as<uint8_t>()[e];
        got_rot.push_back(fp8_e4m3_to_f32(code));
        codes_differ += code != want.k_cache.as<uint8_t>()[e];
        continue;
      }
      const uint16_t code = got.as<uint16_t>()[e];
      got_rot.push_back(dtype == DType::kBF16 ? bf16_to_f32(code) : f16_to_f32(code));
      codes_differ += code != want.k_cache.as<uint16_t>()[e];
    }
  }
  if (dtype == DType::kF32) {
    EXPECT_LE(rel_max_abs_error(got_rot, want_rot), kTolerance) << "rotated k";
    return;
  }
  // One step of the dtype is at most 2^-7 (bf16), 2^-10 (f16) or 2^-3 (f8_e4m3) of the value; 1.5 steps
  // stay under twice that. e4m3's subnormal steps (2^-9 below 2^-6) are absolute: two of them more.
  const double step = dtype == DType::kBF16  ? std::ldexp(1.0, -6)
                      : dtype == DType::kF16 ? std::ldexp(1.0, -9)
                                             : std::ldexp(1.0, -2);
  const double subnormal_steps = dtype == DType::kF8E4M3 ? std::ldexp(1.0, -8) : 0.0;
  double scale = 0;
  for (const float x : want_rot)
    scale = std::max(scale, std::fabs(static_cast<double>(x)));
  for (size_t i = 0; i < got_rot.size(); ++i) {
    ASSERT_LE(std::fabs(static_cast<double>(got_rot[i]) - want_rot[i]),
              step * std::fabs(static_cast<double>(want_rot[i])) + kTolerance * scale + subnormal_steps)
        << "rotated k value " << i << ": " << got_rot[i] << " vs " << want_rot[i];
  }
  // A few ulp of f32 tip a code in well under 1% of the values; a conversion that truncated would differ in
  // about half of them.
  EXPECT_LE(codes_differ, 3 + static_cast<int64_t>(got_rot.size()) / 10)
      << "k codes differing from the CPU's";
}

// The op on the GPU with device copies of p, checked against the CPU op. q_in_place runs q_out = q.
void check(Backend& cuda, const Problem& p, DType dtype, bool q_in_place = false, bool k_exact = false) {
  SCOPED_TRACE(describe(p, dtype) + (q_in_place ? " in place" : ""));
  const HostResult want = run_cpu(p, dtype);
  const HostResult want_f32 = dtype == DType::kF32 ? want : run_cpu(p, DType::kF32);
  const Tensor dq = to_device(cuda, p.q), dk = to_device(cuda, p.k), dv = to_device(cuda, p.v);
  const Tensor dp = to_device(cuda, p.positions), df = to_device(cuda, p.inv_freq);
  const Tensor dkc = to_device(cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
  const Tensor dvc = to_device(cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
  GuardedDeviceOut guarded(cuda, p.q.shape());
  const TensorView q_out = q_in_place ? dq.view() : guarded.view();
  const Status s = rope_kv_store(cuda, {dq.view(), dk.view(), dv.view(), dp.view(), df.view(), p.rotary_dim,
                                        p.layout, q_out, dkc.view(), dvc.view()});
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_TRUE(cuda.synchronize().is_ok());
  if (!q_in_place) {
    guarded.expect_clean();
  }
  const std::vector<float> got_q = to_f32(to_host(cuda, q_out).view());
  EXPECT_LE(rel_max_abs_error(got_q, to_f32(want.q_out.view())), kTolerance) << "q_out";
  const int64_t head_dim = p.q.shape()[2];
  for (int64_t i = 0; i < p.q.numel(); ++i) {
    if (i % head_dim >= p.rotary_dim) {
      ASSERT_EQ(got_q[i], p.q.as<float>()[i]) << "q pass-through element " << i;
    }
  }
  const Tensor v_cache = to_host(cuda, dvc.view());
  EXPECT_EQ(std::memcmp(v_cache.data(), want.v_cache.data(), want.v_cache.nbytes()), 0) << "v_cache bytes";
  const Tensor k_cache = to_host(cuda, dkc.view());
  if (k_exact) {
    EXPECT_EQ(std::memcmp(k_cache.data(), want.k_cache.data(), want.k_cache.nbytes()), 0) << "k_cache bytes";
  }
  check_k_cache(p, dtype, k_cache, want, want_f32);
}

TEST(CudaRopeKvStore, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 900;
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
      for (const int64_t head_dim : {64, 128, 80}) {
        for (const int rotary_dim : {static_cast<int>(head_dim), static_cast<int>(head_dim / 2)}) {
          for (const int64_t t : {1, 5, 130}) {
            check(*cuda, make_rope_kv_problem(layout, t, 8, 2, head_dim, rotary_dim, seed += 4), dtype);
          }
        }
      }
    }
  }
}

// Llama-3-8B's decode step: 32 query and 8 KV heads of 128, Llama 3's base, the token at the last cache row.
TEST(CudaRopeKvStore, LlamaDecodeAtLastRowMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    Problem p = make_rope_kv_problem(RopeLayout::kNeox, 1, 32, 8, 128, 128, 950);
    p.capacity = 4096;
    p.positions.as<int32_t>()[0] = 4095;
    p.inv_freq = make_inv_freq(128, 500000.0);
    check(*cuda, p, dtype);
  }
}

// inv_freq = 0: every angle is 0, the rotation is exact on both sides, and the half caches must then be
// byte-identical to the CPU's: the GPU's conversion rounds as core/half.h.
TEST(CudaRopeKvStore, HalfCachesRoundAsHost) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
      Problem p = make_rope_kv_problem(layout, 130, 4, 2, 80, 40, 960);
      std::fill(p.inv_freq.as<float>(), p.inv_freq.as<float>() + p.inv_freq.numel(), 0.0f);
      check(*cuda, p, dtype, /*q_in_place=*/false, /*k_exact=*/true);
    }
  }
}

TEST(CudaRopeKvStore, InPlaceQMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    check(*cuda, make_rope_kv_problem(layout, 5, 8, 2, 128, 64, 970), DType::kBF16, /*q_in_place=*/true);
    check(*cuda, make_rope_kv_problem(layout, 130, 4, 4, 80, 80, 980), DType::kF32, /*q_in_place=*/true);
  }
}

// q 4 bytes off 8-byte alignment: the interleaved kernel must not read it as float2.
TEST(CudaRopeKvStore, MisalignedQMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Problem p = make_rope_kv_problem(layout, 5, 4, 2, 64, 64, 990);
    SCOPED_TRACE(describe(p, DType::kF16));
    const HostResult want = run_cpu(p, DType::kF16);
    const test::OffsetDeviceTensor dq = test::to_device_offset(*cuda, p.q);
    const Tensor dk = to_device(*cuda, p.k), dv = to_device(*cuda, p.v);
    const Tensor dp = to_device(*cuda, p.positions), df = to_device(*cuda, p.inv_freq);
    const Tensor dkc = to_device(*cuda, sentinel_cache(DType::kF16, rope_kv_cache_shape(p)));
    const Tensor dvc = to_device(*cuda, sentinel_cache(DType::kF16, rope_kv_cache_shape(p)));
    ASSERT_TRUE(rope_kv_store(*cuda, {dq.view, dk.view(), dv.view(), dp.view(), df.view(), p.rotary_dim,
                                      p.layout, dq.view, dkc.view(), dvc.view()})
                    .is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dq.view).view()), to_f32(want.q_out.view())),
              kTolerance);
    const Tensor v_cache = to_host(*cuda, dvc.view());
    EXPECT_EQ(std::memcmp(v_cache.data(), want.v_cache.data(), want.v_cache.nbytes()), 0) << "v_cache bytes";
  }
}

// v rows the kernel cannot take four at a time (v 4 bytes off 16-byte alignment; a k/v row of 66 elements),
// every cache dtype: the element-wise path writes the CPU's bytes too.
TEST(CudaRopeKvStore, VRowsOffFourElementAlignmentMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    check(*cuda, make_rope_kv_problem(RopeLayout::kNeox, 5, 3, 1, 66, 64, 995), dtype);
    const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 5, 4, 2, 64, 64, 996);
    SCOPED_TRACE(describe(p, dtype) + ", v misaligned");
    const HostResult want = run_cpu(p, dtype);
    const test::OffsetDeviceTensor dv = test::to_device_offset(*cuda, p.v);
    const Tensor dq = to_device(*cuda, p.q), dk = to_device(*cuda, p.k);
    const Tensor dp = to_device(*cuda, p.positions), df = to_device(*cuda, p.inv_freq);
    const Tensor dkc = to_device(*cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
    const Tensor dvc = to_device(*cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
    GuardedDeviceOut q_out(*cuda, p.q.shape());
    ASSERT_TRUE(rope_kv_store(*cuda, {dq.view(), dk.view(), dv.view, dp.view(), df.view(), p.rotary_dim,
                                      p.layout, q_out.view(), dkc.view(), dvc.view()})
                    .is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    const Tensor v_cache = to_host(*cuda, dvc.view());
    EXPECT_EQ(std::memcmp(v_cache.data(), want.v_cache.data(), want.v_cache.nbytes()), 0) << "v_cache bytes";
  }
}

TEST(CudaRopeKvStore, EmptyCallWritesNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 0, 4, 2, 64, 64, 1000);
  const Tensor dq = to_device(*cuda, p.q), dk = to_device(*cuda, p.k), dv = to_device(*cuda, p.v);
  const Tensor dp = to_device(*cuda, p.positions), df = to_device(*cuda, p.inv_freq);
  const Tensor before = sentinel_cache(DType::kBF16, rope_kv_cache_shape(p));
  const Tensor dkc = to_device(*cuda, before), dvc = to_device(*cuda, before);
  GuardedDeviceOut q_out(*cuda, p.q.shape());
  ASSERT_TRUE(rope_kv_store(*cuda, {dq.view(), dk.view(), dv.view(), dp.view(), df.view(), p.rotary_dim,
                                    p.layout, q_out.view(), dkc.view(), dvc.view()})
                  .is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  q_out.expect_clean();
  EXPECT_EQ(std::memcmp(to_host(*cuda, dkc.view()).data(), before.data(), before.nbytes()), 0);
  EXPECT_EQ(std::memcmp(to_host(*cuda, dvc.view()).data(), before.data(), before.nbytes()), 0);
}

// Slots pick the cache rows; positions (the angles) lie far past the cache. The k / v checks of check() run
// with the slots standing in for the positions as the names of the written rows.
TEST(CudaRopeKvStore, SlotsMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const int64_t t : {1, 5, 130}) {
      Problem p =
          make_rope_kv_problem(RopeLayout::kInterleaved, t, 8, 2, 128, 64, static_cast<uint64_t>(1100 + t));
      const Tensor slots = make_positions(t, p.capacity, static_cast<uint64_t>(1110 + t));
      for (int64_t i = 0; i < t; ++i)
        p.positions.as<int32_t>()[i] += 50000;
      SCOPED_TRACE(describe(p, dtype) + " with slots");
      const HostResult want = run_cpu(p, dtype, &slots);
      const HostResult want_f32 = dtype == DType::kF32 ? want : run_cpu(p, DType::kF32, &slots);
      const Tensor dq = to_device(*cuda, p.q), dk = to_device(*cuda, p.k), dv = to_device(*cuda, p.v);
      const Tensor dp = to_device(*cuda, p.positions), df = to_device(*cuda, p.inv_freq);
      const Tensor ds = to_device(*cuda, slots);
      const Tensor dkc = to_device(*cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
      const Tensor dvc = to_device(*cuda, sentinel_cache(dtype, rope_kv_cache_shape(p)));
      GuardedDeviceOut q_out(*cuda, p.q.shape());
      RopeKvStoreArgs args{dq.view(),    dk.view(), dv.view(),    dp.view(),  df.view(),
                           p.rotary_dim, p.layout,  q_out.view(), dkc.view(), dvc.view()};
      args.slots = ds.view();
      ASSERT_TRUE(rope_kv_store(*cuda, args).is_ok());
      ASSERT_TRUE(cuda->synchronize().is_ok());
      q_out.expect_clean();
      EXPECT_LE(rel_max_abs_error(q_out.values(), to_f32(want.q_out.view())), kTolerance) << "q_out";
      const Tensor v_cache = to_host(*cuda, dvc.view());
      EXPECT_EQ(std::memcmp(v_cache.data(), want.v_cache.data(), want.v_cache.nbytes()), 0) << "v_cache";
      Problem named = p;
      named.positions = slots;
      check_k_cache(named, dtype, to_host(*cuda, dkc.view()), want, want_f32);
    }
  }
}

// q, k and v packed in one [t, q | k | v] input (the fused projection's output of a paged batch): the same
// bits as the three separate tensors on the GPU.
TEST(CudaRopeKvStore, PackedQkvEqualsSeparateTensors) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    for (const int64_t t : {2, 130}) {
      const Problem p = make_rope_kv_problem(layout, t, 8, 2, 128, 64, static_cast<uint64_t>(1200 + t));
      const Tensor slots = make_positions(t, p.capacity, static_cast<uint64_t>(1210 + t));
      const int64_t q_row = 8 * 128, kv_row = 2 * 128;
      Tensor qkv = Tensor::host(DType::kF32, Shape{t, q_row + 2 * kv_row});
      for (int64_t i = 0; i < t; ++i) {
        float* row = qkv.as<float>() + i * (q_row + 2 * kv_row);
        std::memcpy(row, p.q.as<const float>() + i * q_row, q_row * sizeof(float));
        std::memcpy(row + q_row, p.k.as<const float>() + i * kv_row, kv_row * sizeof(float));
        std::memcpy(row + q_row + kv_row, p.v.as<const float>() + i * kv_row, kv_row * sizeof(float));
      }
      const Tensor dq = to_device(*cuda, p.q), dk = to_device(*cuda, p.k), dv = to_device(*cuda, p.v);
      const Tensor dqkv = to_device(*cuda, qkv), dp = to_device(*cuda, p.positions);
      const Tensor df = to_device(*cuda, p.inv_freq), ds = to_device(*cuda, slots);
      const Tensor kc1 = to_device(*cuda, sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)));
      const Tensor vc1 = to_device(*cuda, sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)));
      const Tensor kc2 = to_device(*cuda, sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)));
      const Tensor vc2 = to_device(*cuda, sentinel_cache(DType::kBF16, rope_kv_cache_shape(p)));
      GuardedDeviceOut q1(*cuda, p.q.shape()), q2(*cuda, p.q.shape());
      RopeKvStoreArgs separate{dq.view(),    dk.view(), dv.view(), dp.view(),  df.view(),
                               p.rotary_dim, layout,    q1.view(), kc1.view(), vc1.view()};
      separate.slots = ds.view();
      ASSERT_TRUE(rope_kv_store(*cuda, separate).is_ok());
      RopeKvStoreArgs packed{{},           {},     {},        dp.view(),  df.view(),
                             p.rotary_dim, layout, q2.view(), kc2.view(), vc2.view()};
      packed.slots = ds.view();
      packed.qkv = dqkv.view();
      const Status s = rope_kv_store(*cuda, packed);
      ASSERT_TRUE(s.is_ok()) << s.to_string();
      ASSERT_TRUE(cuda->synchronize().is_ok());
      q2.expect_clean();
      EXPECT_EQ(q2.values(), q1.values()) << "q_out";
      const Tensor k1 = to_host(*cuda, kc1.view()), k2 = to_host(*cuda, kc2.view());
      const Tensor v1 = to_host(*cuda, vc1.view()), v2 = to_host(*cuda, vc2.view());
      EXPECT_EQ(std::memcmp(k1.data(), k2.data(), k1.nbytes()), 0) << "k_cache";
      EXPECT_EQ(std::memcmp(v1.data(), v2.data(), v1.nbytes()), 0) << "v_cache";
    }
  }
}

// A slot outside the cache (the caller promises none) is skipped: no write past the cache, the other
// tokens' rows land.
TEST(CudaRopeKvStore, SlotOutsideTheCacheWritesNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Problem p = make_rope_kv_problem(RopeLayout::kNeox, 3, 4, 2, 64, 64, 1200);
  Tensor slots = Tensor::host(DType::kI32, Shape{3});
  const int32_t rows[] = {4, static_cast<int32_t>(p.capacity), -1};
  std::copy(std::begin(rows), std::end(rows), slots.as<int32_t>());
  const Tensor dq = to_device(*cuda, p.q), dk = to_device(*cuda, p.k), dv = to_device(*cuda, p.v);
  const Tensor dp = to_device(*cuda, p.positions), df = to_device(*cuda, p.inv_freq);
  const Tensor ds = to_device(*cuda, slots);
  const Tensor before = sentinel_cache(DType::kF32, rope_kv_cache_shape(p));
  const Tensor dkc = to_device(*cuda, before), dvc = to_device(*cuda, before);
  GuardedDeviceOut q_out(*cuda, p.q.shape());
  RopeKvStoreArgs args{dq.view(),    dk.view(), dv.view(),    dp.view(),  df.view(),
                       p.rotary_dim, p.layout,  q_out.view(), dkc.view(), dvc.view()};
  args.slots = ds.view();
  ASSERT_TRUE(rope_kv_store(*cuda, args).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  q_out.expect_clean();
  const Tensor v_cache = to_host(*cuda, dvc.view());
  const int64_t row_elems = 2 * 64;
  for (int64_t row = 0; row < p.capacity; ++row) {
    const float* want = row == 4 ? p.v.as<float>() : before.as<float>() + row * row_elems;
    EXPECT_EQ(std::memcmp(v_cache.as<float>() + row * row_elems, want, row_elems * sizeof(float)), 0)
        << "row " << row;
  }
}

}  // namespace
}  // namespace autoglm

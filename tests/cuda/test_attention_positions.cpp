// CUDA attention with the query position on the device (AttentionArgs::positions, ops/attention.h), for the
// f32 cache (attention.cu) and the bf16 cache (attention_bf16.cu), decode t = 1 and 2:
// - positions given answer as positions not given (the splits differ: the capacity's fixed chunks against
//   even parts of the visible keys), for the split-K decode kernels and the generic ones (head_dim 320);
// - a launch recorded at position 20 of a 4,096-row cache and replayed after positions (and the cache rows)
//   were overwritten for a later position equals a direct call there, bit for bit, and the CPU reference:
//   position 300 (a few splits hold keys), window 64 (only splits in the window), and the last position of
//   the cache (the last split; with window 64 it alone holds keys).
// Cache rows past the valid range hold NaN, so a split that reads a key it must not see fails; outputs are
// NaN-poisoned and guarded on the device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "ops/attention.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;
using test::rel_max_abs_error;

// max|a - b| / max|b| between positions given and not given: only the summation order differs (f32 math on
// the same values). The CPU reference tolerance is test_attention_bf16.cpp's decode one.
constexpr double kF32PositionsTolerance = 1e-6;
constexpr double kBf16PositionsTolerance = 3e-5;
constexpr double kCpuTolerance = 3e-5;
constexpr int64_t kCapacity = 4096;

// A cache in the device's dtype with random values in [lo, hi) in rows [0, valid) and NaN past them, and its
// f32 widening for the CPU reference. The random values do not depend on `valid`, so the caches of a later
// position extend those of an earlier one.
struct HostCache {
  Tensor stored;
  Tensor f32;
};

HostCache make_cache(DType dtype, const Shape& shape, int64_t valid, uint64_t seed, float lo, float hi) {
  HostCache c;
  c.stored = random_tensor(dtype, shape, seed, lo, hi);
  const int64_t row = shape[1] * shape[2];
  c.f32 = Tensor::host(DType::kF32, shape);
  float* f = c.f32.as<float>();
  if (dtype == DType::kBF16) {
    auto* bits = c.stored.as<uint16_t>();
    for (int64_t i = valid * row; i < shape.numel(); ++i)
      bits[i] = f32_to_bf16(std::numeric_limits<float>::quiet_NaN());
    for (int64_t i = 0; i < shape.numel(); ++i)
      f[i] = bf16_to_f32(bits[i]);
  } else {
    float* s = c.stored.as<float>();
    for (int64_t i = valid * row; i < shape.numel(); ++i)
      s[i] = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(f, s, static_cast<size_t>(shape.numel()) * sizeof(float));
  }
  return c;
}

Tensor host_positions(int64_t pos0, int64_t t) {
  Tensor p = Tensor::host(DType::kI32, Shape{t});
  for (int64_t i = 0; i < t; ++i)
    p.as<int32_t>()[i] = static_cast<int32_t>(pos0 + i);
  return p;
}

struct Shapes {
  int64_t t, q_heads, kv_heads, head_dim;
};

std::string describe(DType dtype, const Shapes& s) {
  return std::string(dtype_name(dtype)) + " t=" + std::to_string(s.t) +
         " heads=" + std::to_string(s.q_heads) + "/" + std::to_string(s.kv_heads) +
         " head_dim=" + std::to_string(s.head_dim);
}

// The device tensors of one problem; caches and positions are rewritten in place for a later position.
class Problem {
 public:
  Problem(Backend& cuda, DType dtype, const Shapes& s, uint64_t seed)
      : cuda_(cuda),
        dtype_(dtype),
        s_(s),
        seed_(seed),
        q_shape_{s.t, s.q_heads, s.head_dim},
        cache_shape_{kCapacity, s.kv_heads, s.head_dim} {
    q_host_ = random_tensor(DType::kF32, q_shape_, seed, -2.0f, 2.0f);
    q_ = test::to_device(cuda, q_host_);
    k_ = allocate(dtype, cache_shape_);
    v_ = allocate(dtype, cache_shape_);
    positions_ = test::to_device(cuda, host_positions(0, s.t));
  }

  // Caches valid up to pos0 + t, positions pos0 .. pos0 + t - 1 (on the device).
  void set_position(int64_t pos0) {
    pos0_ = pos0;
    k_host_ = make_cache(dtype_, cache_shape_, pos0 + s_.t, seed_ + 1, -1.0f, 1.0f);
    v_host_ = make_cache(dtype_, cache_shape_, pos0 + s_.t, seed_ + 2, -0.5f, 1.5f);
    for (const auto& [dst, src] : {std::pair{&k_, &k_host_.stored}, std::pair{&v_, &v_host_.stored}}) {
      const Status st = cuda_.copy(dst->view(), src->view());
      EXPECT_TRUE(st.is_ok()) << st.to_string();
    }
    const Status st = cuda_.copy(positions_.view(), host_positions(pos0, s_.t).view());
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }

  AttentionArgs args(const TensorView& out, bool with_positions, int64_t window) const {
    AttentionArgs a;
    a.q = q_.view();
    a.k_cache = k_.view();
    a.v_cache = v_.view();
    a.q_pos0 = pos0_;
    a.scale = 1.0f / std::sqrt(static_cast<float>(s_.head_dim));
    a.window = window;
    a.out = out;
    if (with_positions) a.positions = positions_.view();
    return a;
  }

  // The CPU attention on the f32 widening of the current caches.
  std::vector<float> cpu_reference(Backend& cpu, int64_t window) const {
    Tensor out = Tensor::host(DType::kF32, q_shape_);
    AttentionArgs a = args(out.view(), false, window);
    a.q = q_host_.view();
    a.k_cache = k_host_.f32.view();
    a.v_cache = v_host_.f32.view();
    const Status st = attention(cpu, a);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return test::to_f32(out.view());
  }

  const Shape& q_shape() const { return q_shape_; }

 private:
  Tensor allocate(DType dtype, const Shape& shape) {
    auto t = cuda_.allocate(dtype, shape);
    EXPECT_TRUE(t.has_value()) << t.status().to_string();
    return t.has_value() ? std::move(t).value() : Tensor{};
  }

  Backend& cuda_;
  DType dtype_;
  Shapes s_;
  uint64_t seed_;
  Shape q_shape_, cache_shape_;
  Tensor q_host_, q_, k_, v_, positions_;
  HostCache k_host_, v_host_;
  int64_t pos0_ = 0;
};

// Runs attention directly into a fresh guarded output and returns its values (empty on failure).
std::vector<float> run_direct(Backend& cuda, const Problem& p, bool with_positions, int64_t window) {
  GuardedDeviceOut out(cuda, p.q_shape());
  const Status st = attention(cuda, p.args(out.view(), with_positions, window));
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  const Status synced = cuda.synchronize();
  EXPECT_TRUE(synced.is_ok()) << synced.to_string();
  out.expect_clean();
  if (!st.is_ok() || !synced.is_ok() || ::testing::Test::HasFatalFailure()) return {};
  return out.values();
}

double positions_tolerance(DType dtype) {
  return dtype == DType::kBF16 ? kBf16PositionsTolerance : kF32PositionsTolerance;
}

using Param = std::tuple<DType, int64_t>;  // cache dtype, t
class AttentionPositions : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionPositions, SameResultAsWithoutPositions) {
  const auto [dtype, t] = GetParam();
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  // group 4 (split-K decode), group 1, and head_dim 320 (the generic kernels).
  for (const Shapes& s : {Shapes{t, 8, 2, 128}, Shapes{t, 4, 4, 64}, Shapes{t, 4, 2, 320}}) {
    Problem p(*cuda, dtype, s, 900 + static_cast<uint64_t>(s.head_dim));
    for (const int64_t pos0 : {int64_t{0}, int64_t{20}, int64_t{300}, kCapacity - t}) {
      p.set_position(pos0);
      for (const int64_t window : {int64_t{0}, int64_t{64}}) {
        SCOPED_TRACE(describe(dtype, s) + " q_pos0=" + std::to_string(pos0) +
                     " window=" + std::to_string(window));
        const std::vector<float> with = run_direct(*cuda, p, true, window);
        const std::vector<float> without = run_direct(*cuda, p, false, window);
        ASSERT_FALSE(with.empty());
        ASSERT_FALSE(without.empty());
        EXPECT_LE(rel_max_abs_error(with, without), positions_tolerance(dtype));
      }
    }
  }
}

// Records one launch at position 20, then replays it after moving the problem to `later`.
void expect_replay_matches(Backend& cuda, Backend& cpu, DType dtype, const Shapes& s, int64_t later,
                           int64_t window) {
  SCOPED_TRACE(describe(dtype, s) + " later=" + std::to_string(later) + " window=" + std::to_string(window));
  constexpr int64_t kRecorded = 20;
  Problem p(cuda, dtype, s, 700 + static_cast<uint64_t>(later));
  p.set_position(kRecorded);
  // A direct call first sizes the backend's scratch, so the recording's block does not move later.
  const std::vector<float> direct_recorded = run_direct(cuda, p, true, window);
  ASSERT_FALSE(direct_recorded.empty());
  const uint64_t generation = cuda.memory_generation();

  GuardedDeviceOut out(cuda, p.q_shape());
  const AttentionArgs recorded = p.args(out.view(), true, window);
  auto work = cuda.capture([&] { return attention(cuda, recorded); });
  ASSERT_TRUE(work.has_value()) << work.status().to_string();

  // At the recorded position the replay is the direct call.
  ASSERT_TRUE((*work)->replay().is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(out.values(), direct_recorded) << "replay at the recorded position";

  // Later: new cache rows and positions on the device; the host-side q_pos0 of the recording stays 20.
  p.set_position(later);
  ASSERT_TRUE((*work)->replay().is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  if (::testing::Test::HasFatalFailure()) return;
  const std::vector<float> replayed = out.values();

  const std::vector<float> direct = run_direct(cuda, p, true, window);
  ASSERT_FALSE(direct.empty());
  EXPECT_EQ(replayed, direct) << "replay against a direct call with the same positions";
  const std::vector<float> direct_host_pos = run_direct(cuda, p, false, window);
  ASSERT_FALSE(direct_host_pos.empty());
  EXPECT_LE(rel_max_abs_error(replayed, direct_host_pos), positions_tolerance(dtype));
  EXPECT_LE(rel_max_abs_error(replayed, p.cpu_reference(cpu, window)), kCpuTolerance);
  EXPECT_EQ(cuda.memory_generation(), generation) << "the scratch moved: the recording would be stale";
}

TEST_P(AttentionPositions, ReplayAtLaterPositionsMatchesDirectCalls) {
  const auto [dtype, t] = GetParam();
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  auto cpu = create_backend("cpu", {});
  ASSERT_TRUE(cpu.has_value()) << cpu.status().to_string();
  for (const Shapes& s : {Shapes{t, 8, 2, 128}, Shapes{t, 4, 2, 320}}) {
    for (const int64_t window : {int64_t{0}, int64_t{64}}) {
      expect_replay_matches(*cuda, **cpu, dtype, s, 300, window);
      expect_replay_matches(*cuda, **cpu, dtype, s, kCapacity - t, window);  // the last split
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CacheDtypes, AttentionPositions,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16),
                                            ::testing::Values(int64_t{1}, int64_t{2})),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(AttentionPositions, RejectsBadPositions) {
  auto cuda = test::make_cuda();
  ASSERT_TRUE(cuda);
  Problem p(*cuda, DType::kF32, Shapes{1, 8, 2, 128}, 42);
  p.set_position(20);
  GuardedDeviceOut out(*cuda, p.q_shape());
  const AttentionArgs good = p.args(out.view(), true, 0);
  ASSERT_TRUE(attention(*cuda, good).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());

  const Tensor on_host = host_positions(20, 1);
  AttentionArgs bad = good;
  bad.positions = on_host.view();
  EXPECT_EQ(attention(*cuda, bad).code(), StatusCode::kInvalidArgument) << "positions in host memory";
  const Tensor two = test::to_device(*cuda, host_positions(20, 2));
  bad = good;
  bad.positions = two.view();
  EXPECT_EQ(attention(*cuda, bad).code(), StatusCode::kInvalidArgument) << "positions shape [2] for t = 1";
  bad = good;
  bad.positions.dtype = DType::kF32;
  EXPECT_EQ(attention(*cuda, bad).code(), StatusCode::kInvalidArgument) << "f32 positions";
}

}  // namespace
}  // namespace autoglm

// rope on the GPU against the CPU kernel on host copies: both layouts, full and partial rotary, head sizes
// 3 / 64 / 127 / 128 / 4097 (odd head_dim and misaligned memory take the scalar interleaved path), token and
// head counts 1 to 37, positions up to 200000 (sincosf's slow range reduction), in place, and empty input.
// Dims past rotary_dim must pass through bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/rope.h"
#include "support/rope_inputs.h"

namespace autoglm {
namespace {

using test::make_inv_freq;

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::rel_max_abs_error;
using test::to_device;
using test::to_f32;
using test::to_host;

// Same f32 angle on both sides; sincosf is within 2 ulp of glibc's sinf/cosf and the GPU fuses the rotation's
// multiply-add: a few 1e-7 absolute against outputs of order 1.
constexpr double kTolerance = 1e-5;

// Non-contiguous positions starting 0, 5, 1000, then random in [0, max_position).
Tensor make_positions(int64_t t, uint64_t seed, float max_position = 8000.0f) {
  Tensor p = Tensor::host(DType::kI32, Shape{t});
  const int32_t fixed[] = {0, 5, 1000};
  const Tensor r = random_tensor(DType::kI32, Shape{t}, seed, 0.0f, max_position);
  for (int64_t i = 0; i < t; ++i)
    p.as<int32_t>()[i] = i < 3 ? fixed[i] : r.as<int32_t>()[i];
  return p;
}

int rotary_dim_for(int64_t head_dim, double fraction) {
  return std::max(2, static_cast<int>(head_dim * fraction) / 2 * 2);
}

struct Case {
  Tensor x, positions, inv_freq;
  int rotary_dim;
  RopeLayout layout;
};

std::vector<float> cpu_rope(const Case& c) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, c.x.shape());
  const Status s =
      rope(*cpu, {c.x.view(), c.positions.view(), c.inv_freq.view(), c.rotary_dim, c.layout, out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

std::string describe(const Case& c) {
  return test::shape_trace(c.x.shape()) + " rotary_dim " + std::to_string(c.rotary_dim) +
         (c.layout == RopeLayout::kNeox ? " neox" : " interleaved");
}

void check(Backend& cuda, const Case& c) {
  SCOPED_TRACE(describe(c));
  const Tensor dx = to_device(cuda, c.x), dp = to_device(cuda, c.positions), df = to_device(cuda, c.inv_freq);
  GuardedDeviceOut out(cuda, c.x.shape());
  ASSERT_TRUE(rope(cuda, {dx.view(), dp.view(), df.view(), c.rotary_dim, c.layout, out.view()}).is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  const std::vector<float> got = out.values();
  EXPECT_LE(rel_max_abs_error(got, cpu_rope(c)), kTolerance);
  const int64_t head_dim = c.x.shape()[2];
  for (int64_t row = 0; row < c.x.shape()[0] * c.x.shape()[1]; ++row) {
    for (int64_t d = c.rotary_dim; d < head_dim; ++d)
      ASSERT_EQ(got[row * head_dim + d], c.x.as<float>()[row * head_dim + d])
          << "row " << row << " dim " << d;
  }
}

TEST(CudaRope, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 400;
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    for (const int64_t t : {1, 3, 37}) {
      for (const int64_t heads : {1, 5}) {
        for (const int64_t head_dim : {3, 64, 127, 128, 4097}) {
          for (const double fraction : {1.0, 0.5, 0.25}) {
            const int rotary_dim = rotary_dim_for(head_dim, fraction);
            seed += 2;
            check(*cuda, {random_tensor(DType::kF32, Shape{t, heads, head_dim}, seed),
                          make_positions(t, seed + 1), make_inv_freq(rotary_dim), rotary_dim, layout});
          }
        }
      }
    }
  }
}

// Long contexts: positions up to 200000 (angles past sincosf's fast-path range) and Llama 3's base.
TEST(CudaRope, FarPositionsMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    check(*cuda, {random_tensor(DType::kF32, Shape{257, 8, 128}, 71), make_positions(257, 72, 200000.0f),
                  make_inv_freq(128, 500000.0), 128, layout});
  }
}

TEST(CudaRope, InPlaceMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    for (const int64_t head_dim : {int64_t{96}, int64_t{127}}) {
      const Case c{random_tensor(DType::kF32, Shape{37, 4, head_dim}, 81), make_positions(37, 82),
                   make_inv_freq(48), 48, layout};
      SCOPED_TRACE(describe(c));
      const Tensor dx = to_device(*cuda, c.x), dp = to_device(*cuda, c.positions),
                   df = to_device(*cuda, c.inv_freq);
      ASSERT_TRUE(rope(*cuda, {dx.view(), dp.view(), df.view(), c.rotary_dim, layout, dx.view()}).is_ok());
      EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view()).view()), cpu_rope(c)), kTolerance);
    }
  }
}

// An even head_dim 4 bytes off alignment: the interleaved kernel must not use float2 there.
TEST(CudaRope, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const RopeLayout layout : {RopeLayout::kNeox, RopeLayout::kInterleaved}) {
    const Case c{random_tensor(DType::kF32, Shape{5, 3, 64}, 91), make_positions(5, 92), make_inv_freq(64),
                 64, layout};
    SCOPED_TRACE(describe(c));
    const test::OffsetDeviceTensor dx = test::to_device_offset(*cuda, c.x);
    const Tensor dp = to_device(*cuda, c.positions), df = to_device(*cuda, c.inv_freq);
    ASSERT_TRUE(rope(*cuda, {dx.view, dp.view(), df.view(), c.rotary_dim, layout, dx.view}).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view).view()), cpu_rope(c)), kTolerance);
  }
}

TEST(CudaRope, EmptyInputLaunchesNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor dx = to_device(*cuda, random_tensor(DType::kF32, Shape{0, 4, 64}, 1));
  const Tensor dp = to_device(*cuda, Tensor::host(DType::kI32, Shape{0}));
  const Tensor df = to_device(*cuda, make_inv_freq(64));
  GuardedDeviceOut out(*cuda, Shape{0, 4, 64});
  ASSERT_TRUE(rope(*cuda, {dx.view(), dp.view(), df.view(), 64, RopeLayout::kNeox, out.view()}).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  out.expect_clean();
}

}  // namespace
}  // namespace autoglm

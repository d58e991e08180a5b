// rms_norm on the GPU against the CPU kernel on host copies: every row length of kRowLengths (scalar and
// float4 paths, warp / 256 / 1024-thread row groups) times several row counts, a [t, heads, head_dim] view
// (per-head norm), in place, misaligned memory (scalar fallback with d % 4 == 0), and empty inputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/half.h"
#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/add.h"
#include "ops/rms_norm.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::rel_max_abs_error;
using test::to_device;
using test::to_f32;
using test::to_host;

// Both sides sum squares in f32 (the GPU in a shuffle tree, the CPU in 16 lanes): the sums differ by a few
// ulp, the normalized values by less than 1e-6 relative.
constexpr double kTolerance = 1e-5;
constexpr float kEps = 1e-6f;

std::vector<float> cpu_rms_norm(const Tensor& x, const Tensor& w) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, x.shape());
  const Status s = rms_norm(*cpu, {x.view(), w.view(), kEps, out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

void check(Backend& cuda, Shape shape, uint64_t seed) {
  SCOPED_TRACE(test::shape_trace(shape));
  const int64_t d = shape.back();
  const Tensor x = random_tensor(DType::kF32, shape, seed);
  const Tensor w = random_tensor(DType::kF32, Shape{d}, seed + 1, 0.5f, 1.5f);
  const Tensor dx = to_device(cuda, x), dw = to_device(cuda, w);
  GuardedDeviceOut out(cuda, shape);
  ASSERT_TRUE(rms_norm(cuda, {dx.view(), dw.view(), kEps, out.view()}).is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), cpu_rms_norm(x, w)), kTolerance);
}

TEST(CudaRmsNorm, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 100;
  for (const int64_t d : test::kRowLengths) {
    for (const int64_t rows : test::kRowCounts) {
      check(*cuda, Shape{rows, d}, seed += 2);
    }
  }
}

TEST(CudaRmsNorm, PerHeadViewMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  check(*cuda, Shape{5, 16, 128}, 7);  // Qwen3 q_norm: 80 rows of 128
  check(*cuda, Shape{3, 2, 127}, 8);
  check(*cuda, Shape{4097}, 9);  // rank 1: one row
}

TEST(CudaRmsNorm, InPlaceMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{3}, int64_t{128}, int64_t{4097}, int64_t{40000}}) {
    SCOPED_TRACE("d " + std::to_string(d));
    const Tensor x = random_tensor(DType::kF32, Shape{7, d}, 20 + d);
    const Tensor w = random_tensor(DType::kF32, Shape{d}, 21 + d, 0.5f, 1.5f);
    const Tensor dx = to_device(*cuda, x), dw = to_device(*cuda, w);
    ASSERT_TRUE(rms_norm(*cuda, {dx.view(), dw.view(), kEps, dx.view()}).is_ok());
    const Tensor got = to_host(*cuda, dx.view());
    EXPECT_LE(rel_max_abs_error(to_f32(got.view()), cpu_rms_norm(x, w)), kTolerance);
  }
}

// d % 4 == 0 but x and out 4 bytes off alignment: the scalar path, in place.
TEST(CudaRmsNorm, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{128}, int64_t{4096}, int64_t{40000}}) {
    SCOPED_TRACE("d " + std::to_string(d));
    const Tensor x = random_tensor(DType::kF32, Shape{3, d}, 30 + d);
    const Tensor w = random_tensor(DType::kF32, Shape{d}, 31 + d, 0.5f, 1.5f);
    const test::OffsetDeviceTensor dx = test::to_device_offset(*cuda, x);
    const Tensor dw = to_device(*cuda, w);
    ASSERT_TRUE(rms_norm(*cuda, {dx.view, dw.view(), kEps, dx.view}).is_ok());
    const Tensor got = to_host(*cuda, dx.view);
    EXPECT_LE(rel_max_abs_error(to_f32(got.view()), cpu_rms_norm(x, w)), kTolerance);
  }
}

TEST(CudaRmsNorm, EmptyInputsLaunchNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const Shape& shape : {Shape{0, 8}, Shape{3, 0}}) {
    SCOPED_TRACE(test::shape_trace(shape));
    const Tensor dx = to_device(*cuda, random_tensor(DType::kF32, shape, 1));
    const Tensor dw = to_device(*cuda, random_tensor(DType::kF32, Shape{shape.back()}, 2));
    GuardedDeviceOut out(*cuda, shape);
    ASSERT_TRUE(rms_norm(*cuda, {dx.view(), dw.view(), kEps, out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
  }
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// The residual add fused into the norm on the GPU equals the GPU's add followed by its rms_norm bit for bit
// (float4 and scalar paths, every row-group size), the sum included.
TEST(CudaRmsNormWithResidual, EqualsAddThenNorm) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {1, 3, 64, 4096, 4097, 8192}) {
    for (const int64_t rows : {1, 7, 130}) {
      SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows));
      const Tensor x =
          to_device(*cuda, random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(d + rows)));
      const Tensor r =
          to_device(*cuda, random_tensor(DType::kF32, Shape{rows, d}, static_cast<uint64_t>(d + rows + 1)));
      const Tensor w =
          to_device(*cuda, random_tensor(DType::kF32, Shape{d}, static_cast<uint64_t>(d + rows + 2)));
      auto sum = cuda->allocate(DType::kF32, Shape{rows, d});
      auto want = cuda->allocate(DType::kF32, Shape{rows, d});
      ASSERT_TRUE(sum.has_value() && want.has_value());
      ASSERT_TRUE(add(*cuda, {x.view(), r.view(), sum->view()}).is_ok());
      ASSERT_TRUE(rms_norm(*cuda, {sum->view(), w.view(), kEps, want->view()}).is_ok());
      GuardedDeviceOut out(*cuda, Shape{rows, d}), sum_out(*cuda, Shape{rows, d});
      ASSERT_TRUE(rms_norm(*cuda, {x.view(), w.view(), kEps, out.view(), r.view(), sum_out.view()}).is_ok());
      ASSERT_TRUE(cuda->synchronize().is_ok());
      out.expect_clean();
      sum_out.expect_clean();
      EXPECT_EQ(sum_out.values(), to_f32(to_host(*cuda, sum->view()).view())) << "sum";
      EXPECT_EQ(out.values(), to_f32(to_host(*cuda, want->view()).view())) << "norm";
    }
  }
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// A bf16 / f16 out is the GPU's own f32 result rounded to nearest-even, bit for bit (float4 and scalar
// paths, every row-group size, with and without the fused residual add), inside its guards.
TEST(CudaRmsNormSixteenBitOut, EqualsRoundedF32Result) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kBF16, DType::kF16}) {
    for (const int64_t d : {1, 3, 64, 1025, 4096, 4097}) {
      for (const bool with_residual : {false, true}) {
        const int64_t rows = 7;
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " d " + std::to_string(d) +
                     (with_residual ? " residual" : ""));
        const auto seed = static_cast<uint64_t>(5 * d);
        const Tensor x = to_device(*cuda, random_tensor(DType::kF32, Shape{rows, d}, seed, -3.0f, 3.0f));
        const Tensor r = to_device(*cuda, random_tensor(DType::kF32, Shape{rows, d}, seed + 1));
        const Tensor w = to_device(*cuda, random_tensor(DType::kF32, Shape{d}, seed + 2, 0.5f, 1.5f));
        auto want = cuda->allocate(DType::kF32, Shape{rows, d});
        auto sum = cuda->allocate(DType::kF32, Shape{rows, d});
        auto got = cuda->allocate(dtype, Shape{rows * d + 16});  // 8 guard elements on each side
        ASSERT_TRUE(want.has_value() && sum.has_value() && got.has_value());
        const std::vector<uint16_t> guard_fill(static_cast<size_t>(rows * d + 16), 0xBEEF);
        ASSERT_TRUE(cuda->copy(got->view(), TensorView{const_cast<uint16_t*>(guard_fill.data()), dtype,
                                                       Shape{rows * d + 16}, Device{}})
                        .is_ok());
        RmsNormArgs args{x.view(), w.view(), kEps, want->view()};
        if (with_residual) {
          args.residual = r.view();
          args.sum_out = sum->view();
        }
        ASSERT_TRUE(rms_norm(*cuda, args).is_ok());
        args.out = got->view().rows(8, 8 + rows * d).reshaped(Shape{rows, d});
        ASSERT_TRUE(rms_norm(*cuda, args).is_ok());
        ASSERT_TRUE(cuda->synchronize().is_ok());
        const std::vector<float> f32 = to_f32(to_host(*cuda, want->view()).view());
        const Tensor bits = to_host(*cuda, got->view());
        const auto* b = bits.as<const uint16_t>();
        for (int i = 0; i < 8; ++i) {
          ASSERT_EQ(b[i], 0xBEEF) << "guard before";
          ASSERT_EQ(b[rows * d + 8 + i], 0xBEEF) << "guard after";
        }
        for (int64_t i = 0; i < rows * d; ++i) {
          const uint16_t expected = dtype == DType::kBF16 ? f32_to_bf16(f32[static_cast<size_t>(i)])
                                                          : f32_to_f16(f32[static_cast<size_t>(i)]);
          ASSERT_EQ(b[8 + i], expected) << "element " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace autoglm

// layer_norm on the GPU against the CPU kernel on host copies, with and without bias: every row length of
// kRowLengths times several row counts, rows with a large common offset (the pivot trick both kernels use),
// in place, misaligned memory (scalar fallback with d % 4 == 0), and empty inputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/layer_norm.h"

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

// Both sides take the same two passes on x - x[0] in f32 (the CPU combines lanes in double), so mean and
// variance agree to a few ulp and the outputs to well under 1e-5 relative.
constexpr double kTolerance = 1e-5;
constexpr float kEps = 1e-5f;

struct Inputs {
  Tensor x, w, b;
};

Inputs make_inputs(Shape shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  const int64_t d = shape.back();
  return {random_tensor(DType::kF32, shape, seed, lo, hi),
          random_tensor(DType::kF32, Shape{d}, seed + 1, 0.5f, 1.5f),
          random_tensor(DType::kF32, Shape{d}, seed + 2)};
}

std::vector<float> cpu_layer_norm(const Inputs& in, bool bias) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, in.x.shape());
  const Status s =
      layer_norm(*cpu, {in.x.view(), in.w.view(), bias ? in.b.view() : TensorView{}, kEps, out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

void check(Backend& cuda, const Inputs& in, bool bias) {
  SCOPED_TRACE(test::shape_trace(in.x.shape()) + (bias ? " with bias" : " without bias"));
  const Tensor dx = to_device(cuda, in.x), dw = to_device(cuda, in.w), db = to_device(cuda, in.b);
  GuardedDeviceOut out(cuda, in.x.shape());
  ASSERT_TRUE(
      layer_norm(cuda, {dx.view(), dw.view(), bias ? db.view() : TensorView{}, kEps, out.view()}).is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), cpu_layer_norm(in, bias)), kTolerance);
}

TEST(CudaLayerNorm, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 200;
  for (const int64_t d : test::kRowLengths) {
    for (const int64_t rows : test::kRowCounts) {
      const Inputs in = make_inputs(Shape{rows, d}, seed += 3);
      check(*cuda, in, true);
      check(*cuda, in, false);
    }
  }
}

// Values in [99, 101]: a plain f32 mean would lose most of the variance's digits.
TEST(CudaLayerNorm, LargeOffsetMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{127}, int64_t{4096}, int64_t{8193}}) {
    check(*cuda, make_inputs(Shape{3, d}, 40 + d, 99.0f, 101.0f), true);
  }
}

TEST(CudaLayerNorm, InPlaceMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{3}, int64_t{128}, int64_t{4097}, int64_t{40000}}) {
    SCOPED_TRACE("d " + std::to_string(d));
    const Inputs in = make_inputs(Shape{5, d}, 50 + d);
    const Tensor dx = to_device(*cuda, in.x), dw = to_device(*cuda, in.w), db = to_device(*cuda, in.b);
    ASSERT_TRUE(layer_norm(*cuda, {dx.view(), dw.view(), db.view(), kEps, dx.view()}).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view()).view()), cpu_layer_norm(in, true)),
              kTolerance);
  }
}

TEST(CudaLayerNorm, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{128}, int64_t{4096}}) {
    SCOPED_TRACE("d " + std::to_string(d));
    const Inputs in = make_inputs(Shape{3, d}, 60 + d);
    const test::OffsetDeviceTensor dx = test::to_device_offset(*cuda, in.x);
    const Tensor dw = to_device(*cuda, in.w), db = to_device(*cuda, in.b);
    ASSERT_TRUE(layer_norm(*cuda, {dx.view, dw.view(), db.view(), kEps, dx.view}).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view).view()), cpu_layer_norm(in, true)),
              kTolerance);
  }
}

TEST(CudaLayerNorm, EmptyInputsLaunchNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const Shape& shape : {Shape{0, 8}, Shape{3, 0}}) {
    SCOPED_TRACE(test::shape_trace(shape));
    const Inputs in = make_inputs(shape, 1);
    const Tensor dx = to_device(*cuda, in.x), dw = to_device(*cuda, in.w), db = to_device(*cuda, in.b);
    GuardedDeviceOut out(*cuda, shape);
    ASSERT_TRUE(layer_norm(*cuda, {dx.view(), dw.view(), db.view(), kEps, out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
  }
}

}  // namespace
}  // namespace autoglm

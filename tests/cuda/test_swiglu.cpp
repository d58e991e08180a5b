// swiglu on the GPU against the CPU kernel on host copies: f from 1 to 13696 (GLM-4's), float4 (f % 4 == 0)
// and scalar paths, several row counts, gates large enough to saturate silu, misaligned input, empty input.
// (swiglu grants no aliasing, so there is no in-place case.)
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/swiglu.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::rel_max_abs_error;
using test::to_device;
using test::to_f32;

// Same formula and order; the GPU's expf is within 2 ulp of glibc's: a few ulp per output.
constexpr double kTolerance = 1e-5;

std::vector<float> cpu_swiglu(const Tensor& x) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, Shape{x.shape()[0], x.shape()[1] / 2});
  const Status s = swiglu(*cpu, {x.view(), out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

void check(Backend& cuda, const Tensor& x, const TensorView& dx) {
  SCOPED_TRACE(test::shape_trace(x.shape()));
  const Shape out_shape{x.shape()[0], x.shape()[1] / 2};
  GuardedDeviceOut out(cuda, out_shape);
  ASSERT_TRUE(swiglu(cuda, {dx, out.view()}).is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), cpu_swiglu(x)), kTolerance);
}

TEST(CudaSwiglu, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 600;
  for (const int64_t f : {1, 3, 4, 127, 128, 4096, 4097, 13696}) {
    for (const int64_t rows : {1, 3, 7, 33}) {
      const Tensor x = random_tensor(DType::kF32, Shape{rows, 2 * f}, seed += 1, -6.0f, 6.0f);
      const Tensor dx = to_device(*cuda, x);
      check(*cuda, x, dx.view());
    }
  }
}

TEST(CudaSwiglu, SaturatedGatesMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor x = random_tensor(DType::kF32, Shape{4, 2 * 256}, 11, -100.0f, 100.0f);
  const Tensor dx = to_device(*cuda, x);
  check(*cuda, x, dx.view());
}

TEST(CudaSwiglu, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor x = random_tensor(DType::kF32, Shape{3, 2 * 128}, 12);
  const test::OffsetDeviceTensor dx = test::to_device_offset(*cuda, x);
  check(*cuda, x, dx.view);
}

TEST(CudaSwiglu, EmptyInputsLaunchNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const Shape& shape : {Shape{0, 8}, Shape{3, 0}}) {
    SCOPED_TRACE(test::shape_trace(shape));
    const Tensor dx = to_device(*cuda, random_tensor(DType::kF32, shape, 1));
    GuardedDeviceOut out(*cuda, Shape{shape[0], shape[1] / 2});
    ASSERT_TRUE(swiglu(*cuda, {dx.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
  }
}

}  // namespace
}  // namespace autoglm

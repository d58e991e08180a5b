// add on the GPU against the CPU kernel on host copies: exact (one f32 add per element on both sides). Sizes
// from 1 element to past a million, with float4 bodies and scalar tails; out aliasing a, b, or both; inputs
// off 16-byte alignment (the scalar loop); empty input.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/add.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::to_device;
using test::to_f32;
using test::to_host;

std::vector<float> cpu_add(const Tensor& a, const Tensor& b) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, a.shape());
  const Status s = add(*cpu, {a.view(), b.view(), out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

TEST(CudaAdd, MatchesCpuExactly) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 700;
  const Shape shapes[] = {Shape{1},       Shape{3},    Shape{4},       Shape{127},
                          Shape{7, 4097}, Shape{4096}, Shape{33, 128}, Shape{(1 << 20) + 3}};
  for (const Shape& shape : shapes) {
    SCOPED_TRACE(test::shape_trace(shape));
    const Tensor a = random_tensor(DType::kF32, shape, seed += 2),
                 b = random_tensor(DType::kF32, shape, seed + 1);
    const Tensor da = to_device(*cuda, a), db = to_device(*cuda, b);
    GuardedDeviceOut out(*cuda, shape);
    ASSERT_TRUE(add(*cuda, {da.view(), db.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
    EXPECT_EQ(out.values(), cpu_add(a, b));
  }
}

// The residual stream: out is a, or b, or (x + x) all three.
TEST(CudaAdd, AliasedOutputsMatchCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t n : {int64_t{3}, int64_t{4097}, int64_t{4096}}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const Tensor a = random_tensor(DType::kF32, Shape{n}, 10 + n),
                 b = random_tensor(DType::kF32, Shape{n}, 11 + n);
    const std::vector<float> want = cpu_add(a, b);
    {
      const Tensor da = to_device(*cuda, a), db = to_device(*cuda, b);
      ASSERT_TRUE(add(*cuda, {da.view(), db.view(), da.view()}).is_ok());
      EXPECT_EQ(to_f32(to_host(*cuda, da.view()).view()), want) << "out = a";
    }
    {
      const Tensor da = to_device(*cuda, a), db = to_device(*cuda, b);
      ASSERT_TRUE(add(*cuda, {da.view(), db.view(), db.view()}).is_ok());
      EXPECT_EQ(to_f32(to_host(*cuda, db.view()).view()), want) << "out = b";
    }
    {
      const Tensor da = to_device(*cuda, a);
      ASSERT_TRUE(add(*cuda, {da.view(), da.view(), da.view()}).is_ok());
      EXPECT_EQ(to_f32(to_host(*cuda, da.view()).view()), cpu_add(a, a)) << "out = a = b";
    }
  }
}

TEST(CudaAdd, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t n : {int64_t{4096}, int64_t{4099}}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const Tensor a = random_tensor(DType::kF32, Shape{n}, 20 + n),
                 b = random_tensor(DType::kF32, Shape{n}, 21 + n);
    const test::OffsetDeviceTensor da = test::to_device_offset(*cuda, a);
    const Tensor db = to_device(*cuda, b);
    GuardedDeviceOut out(*cuda, Shape{n});
    ASSERT_TRUE(add(*cuda, {da.view, db.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
    EXPECT_EQ(out.values(), cpu_add(a, b));
    ASSERT_TRUE(add(*cuda, {da.view, db.view(), da.view}).is_ok());
    EXPECT_EQ(to_f32(to_host(*cuda, da.view).view()), cpu_add(a, b)) << "in place";
  }
}

TEST(CudaAdd, EmptyInputLaunchesNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Tensor da = to_device(*cuda, random_tensor(DType::kF32, Shape{0, 5}, 1));
  GuardedDeviceOut out(*cuda, Shape{0, 5});
  ASSERT_TRUE(add(*cuda, {da.view(), da.view(), out.view()}).is_ok());
  ASSERT_TRUE(cuda->synchronize().is_ok());
  out.expect_clean();
}

}  // namespace
}  // namespace autoglm

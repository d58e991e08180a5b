// softmax on the GPU against the CPU kernel on host copies: every row length of kRowLengths times several row
// counts, inputs of large magnitude (the max subtraction), a vocabulary-sized row, in place, misaligned
// memory, and empty inputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/softmax.h"

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

// expf is within 2 ulp on the GPU and the sums differ in order (f32 tree vs double): a few ulp per output,
// relative to the row's largest probability.
constexpr double kTolerance = 1e-5;

std::vector<float> cpu_softmax(const Tensor& x) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, x.shape());
  const Status s = softmax(*cpu, {x.view(), out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

void check(Backend& cuda, const Tensor& x) {
  SCOPED_TRACE(test::shape_trace(x.shape()));
  const Tensor dx = to_device(cuda, x);
  GuardedDeviceOut out(cuda, x.shape());
  ASSERT_TRUE(softmax(cuda, {dx.view(), out.view()}).is_ok());
  ASSERT_TRUE(cuda.synchronize().is_ok());
  out.expect_clean();
  EXPECT_LE(rel_max_abs_error(out.values(), cpu_softmax(x)), kTolerance);
}

TEST(CudaSoftmax, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  uint64_t seed = 300;
  for (const int64_t c : test::kRowLengths) {
    for (const int64_t rows : test::kRowCounts) {
      check(*cuda, random_tensor(DType::kF32, Shape{rows, c}, seed += 1, -4.0f, 4.0f));
    }
  }
}

TEST(CudaSoftmax, LargeLogitsAndVocabularyRows) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  check(*cuda,
        random_tensor(DType::kF32, Shape{3, 1000}, 11, -80.0f, 80.0f));  // exp(80) would overflow alone
  check(*cuda, random_tensor(DType::kF32, Shape{1, 151936}, 12, -10.0f, 20.0f));
  check(*cuda, random_tensor(DType::kF32, Shape{2, 3, 4097}, 13));  // rank 3
}

TEST(CudaSoftmax, InPlaceMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t c : {int64_t{3}, int64_t{128}, int64_t{4097}, int64_t{40000}}) {
    SCOPED_TRACE("c " + std::to_string(c));
    const Tensor x = random_tensor(DType::kF32, Shape{5, c}, 70 + c, -4.0f, 4.0f);
    const Tensor dx = to_device(*cuda, x);
    ASSERT_TRUE(softmax(*cuda, {dx.view(), dx.view()}).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view()).view()), cpu_softmax(x)), kTolerance);
  }
}

TEST(CudaSoftmax, MisalignedMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t c : {int64_t{128}, int64_t{40000}}) {
    SCOPED_TRACE("c " + std::to_string(c));
    const Tensor x = random_tensor(DType::kF32, Shape{3, c}, 80 + c, -4.0f, 4.0f);
    const test::OffsetDeviceTensor dx = test::to_device_offset(*cuda, x);
    ASSERT_TRUE(softmax(*cuda, {dx.view, dx.view}).is_ok());
    EXPECT_LE(rel_max_abs_error(to_f32(to_host(*cuda, dx.view).view()), cpu_softmax(x)), kTolerance);
  }
}

TEST(CudaSoftmax, EmptyInputsLaunchNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const Shape& shape : {Shape{0, 8}, Shape{3, 0}}) {
    SCOPED_TRACE(test::shape_trace(shape));
    const Tensor dx = to_device(*cuda, random_tensor(DType::kF32, shape, 1));
    GuardedDeviceOut out(*cuda, shape);
    ASSERT_TRUE(softmax(*cuda, {dx.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
  }
}

}  // namespace
}  // namespace autoglm

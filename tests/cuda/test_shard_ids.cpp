// shard_ids on the GPU against the CPU kernel.
#include <gtest/gtest.h>

#include <random>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/shard_ids.h"

namespace autoglm {
namespace {

using test::make_cpu;
using test::make_cuda;
using test::to_device;

TEST(CudaShardIds, MatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = make_cpu();
  std::mt19937 rng(9);
  for (int64_t n : {1, 300, 4097}) {
    Tensor ids = Tensor::host(DType::kI32, Shape{n});
    for (int64_t i = 0; i < n; ++i)
      ids.as<int32_t>()[i] = static_cast<int32_t>(rng() % 128256);
    Tensor want = Tensor::host(DType::kI32, Shape{n});
    ASSERT_TRUE(shard_ids(*cpu, {ids.view(), 64128, 96192, want.view()}).is_ok());
    const Tensor device_ids = to_device(*cuda, ids);
    auto out = cuda->allocate(DType::kI32, Shape{n});
    ASSERT_TRUE(out.has_value());
    ASSERT_TRUE(shard_ids(*cuda, {device_ids.view(), 64128, 96192, out->view()}).is_ok());
    Tensor got = Tensor::host(DType::kI32, Shape{n});
    ASSERT_TRUE(cuda->copy(got.view(), out->view()).is_ok());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(got.as<int32_t>()[i], want.as<int32_t>()[i]) << i;
  }
}

}  // namespace
}  // namespace autoglm

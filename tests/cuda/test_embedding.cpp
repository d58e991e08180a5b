// embedding on the GPU against the CPU kernel on host copies, f32 / f16 / bf16 tables: exact, since both only
// widen. Row lengths cover the scalar path (1, 7, 33, 4097) and the 16-byte path (8, 256, 768); t from 1 to
// 300 with repeated ids and both ends of the vocabulary; a misaligned table; empty inputs; and device ids
// outside the vocabulary, which give NaN rows instead of reading outside the table.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_harness.h"
#include "cuda/cuda_op_test.h"
#include "ops/embedding.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::make_cpu;
using test::make_cuda;
using test::random_tensor;
using test::to_device;
using test::to_f32;

Tensor make_ids(const std::vector<int32_t>& values) {
  Tensor ids = Tensor::host(DType::kI32, Shape{static_cast<int64_t>(values.size())});
  if (!values.empty()) std::memcpy(ids.data(), values.data(), values.size() * sizeof(int32_t));
  return ids;
}

std::vector<int32_t> random_ids(int64_t t, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(t));
  for (auto& id : ids)
    id = dist(rng);
  if (t > 0) ids[0] = 0;
  if (t > 1) ids[static_cast<size_t>(t - 1)] = static_cast<int32_t>(vocab - 1);
  if (t > 2) ids[1] = static_cast<int32_t>(vocab - 1);  // a repeated id
  return ids;
}

std::vector<float> cpu_embedding(const Tensor& ids, const Tensor& table) {
  auto cpu = make_cpu();
  Tensor out = Tensor::host(DType::kF32, Shape{ids.numel(), table.shape()[1]});
  const Status s = embedding(*cpu, {ids.view(), table.view(), out.view()});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return to_f32(out.view());
}

struct Vtd {
  int64_t vocab, t, d;
};

TEST(CudaEmbedding, MatchesCpuExactly) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  const Vtd shapes[] = {{1, 1, 1},        {10, 1, 7},     {100, 7, 33},  {50, 3, 8},
                        {1000, 129, 768}, {32, 300, 256}, {20, 3, 4097}, {64, 5, 4096}};
  uint64_t seed = 500;
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const Vtd& s : shapes) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " vocab " + std::to_string(s.vocab) + " t " +
                   std::to_string(s.t) + " d " + std::to_string(s.d));
      const Tensor table = random_tensor(dtype, Shape{s.vocab, s.d}, seed += 2);
      const Tensor ids = make_ids(random_ids(s.t, s.vocab, seed + 1));
      const Tensor dtable = to_device(*cuda, table), dids = to_device(*cuda, ids);
      GuardedDeviceOut out(*cuda, Shape{s.t, s.d});
      ASSERT_TRUE(embedding(*cuda, {dids.view(), dtable.view(), out.view()}).is_ok());
      ASSERT_TRUE(cuda->synchronize().is_ok());
      out.expect_clean();
      EXPECT_EQ(out.values(), cpu_embedding(ids, table));
    }
  }
}

// A table 4 bytes off alignment (a row range of a larger table, say): the element-wise path.
TEST(CudaEmbedding, MisalignedTableMatchesCpu) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const Tensor table = random_tensor(dtype, Shape{40, 256}, 61);
    const Tensor ids = make_ids(random_ids(9, 40, 62));
    const test::OffsetDeviceTensor dtable = test::to_device_offset(*cuda, table);
    const Tensor dids = to_device(*cuda, ids);
    GuardedDeviceOut out(*cuda, Shape{9, 256});
    ASSERT_TRUE(embedding(*cuda, {dids.view(), dtable.view, out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
    EXPECT_EQ(out.values(), cpu_embedding(ids, table));
  }
}

TEST(CudaEmbedding, EmptyInputsLaunchNothing) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const Vtd& s : {Vtd{5, 0, 16}, Vtd{5, 3, 0}}) {
    const Tensor dtable = to_device(*cuda, random_tensor(DType::kF32, Shape{s.vocab, s.d}, 1));
    const Tensor dids = to_device(*cuda, make_ids(random_ids(s.t, s.vocab, 2)));
    GuardedDeviceOut out(*cuda, Shape{s.t, s.d});
    ASSERT_TRUE(embedding(*cuda, {dids.view(), dtable.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    out.expect_clean();
  }
}

// Device ids are not checked by the op: a bad one must not read outside the table, and its row is NaN.
TEST(CudaEmbedding, BadDeviceIdsGiveNanRows) {
  auto cuda = make_cuda();
  ASSERT_NE(cuda, nullptr);
  for (const int64_t d : {int64_t{7}, int64_t{64}}) {
    SCOPED_TRACE("d " + std::to_string(d));
    const Tensor table = random_tensor(DType::kF32, Shape{10, d}, 3);
    const Tensor dtable = to_device(*cuda, table);
    const Tensor dids = to_device(*cuda, make_ids({2, 10, -1, 9}));
    Tensor out_host = Tensor::host(DType::kF32, Shape{4, d});
    const Tensor out = to_device(*cuda, out_host);
    ASSERT_TRUE(embedding(*cuda, {dids.view(), dtable.view(), out.view()}).is_ok());
    ASSERT_TRUE(cuda->synchronize().is_ok());
    const std::vector<float> got = to_f32(test::to_host(*cuda, out.view()).view());
    for (int64_t c = 0; c < d; ++c) {
      EXPECT_EQ(got[c], table.as<float>()[2 * d + c]);
      EXPECT_TRUE(std::isnan(got[d + c])) << "id 10, col " << c;
      EXPECT_TRUE(std::isnan(got[2 * d + c])) << "id -1, col " << c;
      EXPECT_EQ(got[3 * d + c], table.as<float>()[9 * d + c]);
    }
  }
}

}  // namespace
}  // namespace autoglm

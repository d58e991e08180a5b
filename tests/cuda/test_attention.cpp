// The CUDA attention against the CPU attention on the same random seeded inputs: decode (split-K
// flash-decoding, with and without splits), prefill (tiled flash attention) with q_pos0 = 0 and > 0, GQA
// groups 1, 4, 8 (and 3, 16 among the odd shapes), sliding windows, soft-capping, head_dim 64, 80, 128 and
// odd sizes (3, 96, 256, and 320 on the generic path). Cache rows past q_pos0 + t hold NaN, so a kernel
// that reads a row it must not see fails; outputs are NaN-poisoned and guarded on the device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cuda_harness.h"
#include "ops/attention.h"

namespace autoglm {
namespace {

using test::GuardedDeviceOut;
using test::random_tensor;
using test::rel_max_abs_error;

// Tolerance on max|gpu - cpu| / max|cpu|: both sides compute in f32 (the CPU sums its exps in double) in
// different orders; scores are O(1) (scale 1/sqrt(head_dim)), so each exp is off by ~1e-7 relative and the
// output, a convex combination of V rows with values in [-0.5, 1.5) (not centred on 0, so max|cpu| stays
// near 1 even over 5000 keys), by a few 1e-7. A wrong mask or a lost split moves it to ~1e-2 or more.
constexpr double kTolerance = 1e-5;

struct Mode {
  const char* name;
  int64_t window;
  float softcap;
};

const Mode kModes[] = {
    {"full", 0, 0.0f}, {"window23", 23, 0.0f}, {"softcap30", 0, 30.0f}, {"window100_softcap30", 100, 30.0f}};

struct Case {
  int64_t t, q_pos0, q_heads, kv_heads, head_dim;
  Mode mode;
};

std::string describe(const Case& c) {
  return "t=" + std::to_string(c.t) + " q_pos0=" + std::to_string(c.q_pos0) +
         " heads=" + std::to_string(c.q_heads) + "/" + std::to_string(c.kv_heads) +
         " head_dim=" + std::to_string(c.head_dim) + " " + c.mode.name;
}

// Runs one case on both backends and compares; fatal failures return early.
void check_case(Backend& cuda, Backend& cpu, const Case& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const int64_t valid = c.q_pos0 + c.t, capacity = valid + 5;
  const Shape q_shape{c.t, c.q_heads, c.head_dim}, cache_shape{capacity, c.kv_heads, c.head_dim};
  const Tensor q = random_tensor(DType::kF32, q_shape, seed, -2.0f, 2.0f);
  Tensor k = random_tensor(DType::kF32, cache_shape, seed + 1);
  Tensor v = random_tensor(DType::kF32, cache_shape, seed + 2, -0.5f, 1.5f);
  const int64_t row_floats = c.kv_heads * c.head_dim;
  for (int64_t i = valid * row_floats; i < capacity * row_floats; ++i) {  // rows no query may see
    k.as<float>()[i] = std::numeric_limits<float>::quiet_NaN();
    v.as<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  }
  AttentionArgs args;
  args.q_pos0 = c.q_pos0;
  args.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  args.window = c.mode.window;
  args.softcap = c.mode.softcap;

  Tensor expected = Tensor::host(DType::kF32, q_shape);
  args.q = q.view();
  args.k_cache = k.view();
  args.v_cache = v.view();
  args.out = expected.view();
  const Status cpu_status = attention(cpu, args);
  ASSERT_TRUE(cpu_status.is_ok()) << cpu_status.to_string();

  const Tensor q_d = test::to_device(cuda, q);
  const Tensor k_d = test::to_device(cuda, k);
  const Tensor v_d = test::to_device(cuda, v);
  GuardedDeviceOut out(cuda, q_shape);
  args.q = q_d.view();
  args.k_cache = k_d.view();
  args.v_cache = v_d.view();
  args.out = out.view();
  const Status status = attention(cuda, args);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  const Status synced = cuda.synchronize();
  ASSERT_TRUE(synced.is_ok()) << synced.to_string();
  out.expect_clean();
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_LE(rel_max_abs_error(out.values(), test::to_f32(expected.view())), kTolerance);
}

// (t, q_pos0, group): every head_dim in {64, 80, 128} and every mode, 8 query heads.
using AttentionParam = std::tuple<int64_t, int64_t, int64_t>;

void check_all(const AttentionParam& param) {
  const auto [t, q_pos0, group] = param;
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  uint64_t seed = 700 + static_cast<uint64_t>(t * 131 + q_pos0 * 7 + group);
  for (const int64_t head_dim : {64, 80, 128}) {
    for (const Mode& mode : kModes) {
      check_case(*cuda, *cpu, Case{t, q_pos0, 8, 8 / group, head_dim, mode}, seed += 3);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<AttentionParam>& info) {
  const auto [t, q_pos0, group] = info.param;
  // Appended piecewise: "literal" + std::string trips a false -Wrestrict in GCC 12's libstdc++.
  std::string name = "t";
  name += std::to_string(t);
  name += "_pos";
  name += std::to_string(q_pos0);
  name += "_group";
  name += std::to_string(group);
  return name;
}

// Decode: one query row at context 1 and 17 (one split), 300 (4 splits) and 5000 (33 or more splits).
class CudaAttentionDecodeTest : public ::testing::TestWithParam<AttentionParam> {};

TEST_P(CudaAttentionDecodeTest, MatchesCpu) {
  check_all(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaAttentionDecodeTest,
                         ::testing::Combine(::testing::Values(int64_t{1}),
                                            ::testing::Values(0, 16, 299, 4999), ::testing::Values(1, 4, 8)),
                         param_name);

// Prefill: t = 1 and 3 take the decode kernel (t <= 4 rows), 7, 64 and 130 the tiled kernel (partial tiles,
// several key tiles, causal skipping), from position 0 and after 37 cached tokens.
class CudaAttentionPrefillTest : public ::testing::TestWithParam<AttentionParam> {};

TEST_P(CudaAttentionPrefillTest, MatchesCpu) {
  check_all(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaAttentionPrefillTest,
                         ::testing::Combine(::testing::Values(1, 3, 7, 64, 130), ::testing::Values(0, 37),
                                            ::testing::Values(1, 4, 8)),
                         param_name);

// Odd head sizes (3, 96, 256 on the register kernels; 320 on the generic one) and odd groups (3: a partial
// head tile; 16: two tiles of 8), on decode with splits, decode-kernel multi-row and tiled prefill.
TEST(CudaAttentionOddShapesTest, MatchesCpu) {
  auto cuda = test::make_cuda();
  ASSERT_NE(cuda, nullptr);
  auto cpu = test::make_cpu(4);
  uint64_t seed = 9100;
  const std::tuple<int64_t, int64_t> positions[] = {{1, 1999}, {2, 40}, {33, 10}};
  const std::tuple<int64_t, int64_t> heads[] = {{6, 2}, {16, 1}, {4, 4}};
  for (const int64_t head_dim : {3, 96, 256, 320}) {
    for (const auto& [t, q_pos0] : positions) {
      for (const auto& [q_heads, kv_heads] : heads) {
        for (const Mode& mode : {kModes[0], kModes[3]}) {
          check_case(*cuda, *cpu, Case{t, q_pos0, q_heads, kv_heads, head_dim, mode}, seed += 3);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

}  // namespace
}  // namespace autoglm

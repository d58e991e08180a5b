// Our Hopper GEMM (kernels/gemm_wgmma.h) against a float64 product of the same bf16 operands: every epilogue,
// row counts that fill, split and pad the 128 / 192 / 256-token tiles, raster groups that do and do not
// divide the weight tiles, last rounds as halves of the token tiles and whole, rows written nowhere past m or
// n, a row's bits independent of its batch and of the tiling, and the fused silu(gate) * up over [gate | up]
// weights.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/gemm_wgmma.h"
#include "core/half.h"
#include "cuda/cuda_harness.h"

namespace autoglm {
namespace {

using cuda_kernels::GemmEpilogue;
using cuda_kernels::GemmWgmmaArgs;

// The harness's random bf16 values in [-1, 1), as bits (the tests move rows of them around).
std::vector<uint16_t> random_bf16(size_t count, uint64_t seed) {
  const Tensor t = test::random_tensor(DType::kBF16, Shape{static_cast<int64_t>(count)}, seed);
  const uint16_t* bits = t.view().as<uint16_t>();
  return std::vector<uint16_t>(bits, bits + count);
}

template <typename T>
Tensor host_tensor(const std::vector<T>& values, DType dtype) {
  Tensor t = Tensor::host(dtype, Shape{static_cast<int64_t>(values.size())});
  std::memcpy(t.view().data, values.data(), values.size() * sizeof(T));
  return t;
}

// A tiling to pin (0: the launch's choice). Most cases here have fewer units than half the H100's 66
// clusters, so every unit runs as two halves unless `split` is off.
struct Tiling {
  int token_tile = 0, group_pairs = 0;
  bool split = true;
};

// Runs the GEMM into an output of `guard` rows more than m and ldo = columns + 8 whose every byte is first
// 0x7f (or, given an addend, that addend, added in place); returns the whole buffer.
template <typename T>
std::vector<T> run(const std::vector<uint16_t>& x, const std::vector<uint16_t>& w, int64_t m, int64_t n,
                   int64_t k, GemmEpilogue epilogue, int64_t columns, const std::vector<float>* addend,
                   int64_t guard = 3, Tiling tiling = {}) {
  constexpr DType kOut = sizeof(T) == 4 ? DType::kF32 : DType::kBF16;
  const int64_t ldo = columns + 8;
  std::vector<T> initial(static_cast<size_t>((m + guard) * ldo));
  if (addend != nullptr) {
    for (size_t i = 0; i < initial.size(); ++i)
      initial[i] = static_cast<T>((*addend)[i]);
  } else {
    std::memset(initial.data(), 0x7f, initial.size() * sizeof(T));
  }
  auto cuda = test::make_cuda();
  if (cuda == nullptr) return {};
  const Tensor x_d = test::to_device(*cuda, host_tensor(x, DType::kBF16));
  const Tensor w_d = test::to_device(*cuda, host_tensor(w, DType::kBF16));
  const Tensor out = test::to_device(*cuda, host_tensor(initial, kOut));
  GemmWgmmaArgs a;
  a.x = static_cast<const __nv_bfloat16*>(x_d.view().data);
  a.w = static_cast<const __nv_bfloat16*>(w_d.view().data);
  a.out = out.view().data;
  a.addend = addend != nullptr ? static_cast<const float*>(out.view().data) : nullptr;  // in place
  a.m = m, a.n = n, a.k = k, a.ldo = ldo, a.epilogue = epilogue;
  a.token_tile = tiling.token_tile, a.group_pairs = tiling.group_pairs, a.split_last_round = tiling.split;
  int device = 0;
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  EXPECT_TRUE(cuda_kernels::gemm_wgmma_supported(device, a));
  EXPECT_EQ(cuda_kernels::launch_gemm_wgmma(a, cuda_backend(*cuda).stream()), cudaSuccess);
  const Status synced = cuda->synchronize();
  EXPECT_TRUE(synced.is_ok()) << synced.to_string();
  const Tensor back = test::to_host(*cuda, out.view());
  const T* values = back.view().as<T>();
  return std::vector<T>(values, values + initial.size());
}

// sum_i x[r, i] w[c, i] in float64, and sum_i |x w| (the scale of the f32 rounding error).
void reference(const std::vector<uint16_t>& x, const std::vector<uint16_t>& w, int64_t k, int64_t r,
               int64_t c, double* value, double* magnitude) {
  double sum = 0, abs_sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    const double p = static_cast<double>(bf16_to_f32(x[static_cast<size_t>(r * k + i)])) *
                     bf16_to_f32(w[static_cast<size_t>(c * k + i)]);
    sum += p;
    abs_sum += std::fabs(p);
  }
  *value = sum;
  *magnitude = abs_sum;
}

struct Case {
  int64_t m, n, k;
  Tiling tiling;
};
// 1 row; partial, exact and several tiles of each width, whole and in halves (300 rows in 256-row tiles:
// the last half wholly past m); a long k; raster groups of 2 weight-tile pairs over 5 pairs (the last group
// holds one) with 5 token tiles, and one group holding every pair; 70 units (a whole round of 66 on the H100,
// then 8 halves).
constexpr Case kCases[] = {
    {1, 256, 64, {}},
    {37, 256, 128, {128, 0}},
    {37, 256, 128, {128, 0, false}},
    {128, 512, 192, {128, 0, false}},
    {129, 256, 64, {192, 0}},
    {192, 256, 64, {192, 0, false}},
    {256, 512, 128, {256, 0}},
    {300, 768, 256, {256, 0}},
    {300, 768, 256, {256, 0, false}},
    {520, 256, 64, {}},
    {200, 256, 4096, {}},
    {520, 1280, 64, {128, 2}},
    {520, 1280, 64, {128, 2, false}},
    {300, 1280, 128, {192, 5}},
    {520, 3584, 64, {128, 0}},
};

TEST(CudaGemmWgmma, F32MatchesTheFloat64ProductAndWritesOnlyItsRows) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message()
                 << "m " << c.m << " n " << c.n << " k " << c.k << " tile " << c.tiling.token_tile
                 << " group " << c.tiling.group_pairs << " split " << c.tiling.split);
    const auto x = random_bf16(static_cast<size_t>(c.m * c.k), 1 + static_cast<uint32_t>(c.m));
    const auto w = random_bf16(static_cast<size_t>(c.n * c.k), 2 + static_cast<uint32_t>(c.n));
    const std::vector<float> out =
        run<float>(x, w, c.m, c.n, c.k, GemmEpilogue::kF32, c.n, nullptr, 3, c.tiling);
    const int64_t ldo = c.n + 8;
    int bad = 0;
    for (int64_t r = 0; r < c.m + 3; ++r) {
      for (int64_t col = 0; col < ldo; ++col) {
        const float got = out[static_cast<size_t>(r * ldo + col)];
        uint32_t bits;
        std::memcpy(&bits, &got, 4);
        if (r >= c.m || col >= c.n) {
          if (bits != 0x7f7f7f7fu && bad++ < 5) ADD_FAILURE() << "wrote outside: row " << r << " col " << col;
          continue;
        }
        double value, magnitude;
        reference(x, w, c.k, r, col, &value, &magnitude);
        if (!(std::fabs(got - value) <= 1e-4 * magnitude + 1e-6) && bad++ < 5)
          ADD_FAILURE() << "row " << r << " col " << col << ": " << got << " against " << value;
      }
    }
    EXPECT_EQ(bad, 0);
  }
}

TEST(CudaGemmWgmma, AddendIsAddedInPlaceAndBf16IsTheF32Rounded) {
  const Case c{300, 512, 256, {}};
  const auto x = random_bf16(static_cast<size_t>(c.m * c.k), 5);
  const auto w = random_bf16(static_cast<size_t>(c.n * c.k), 6);
  const int64_t ldo = c.n + 8, rows = c.m + 3;
  std::vector<float> addend(static_cast<size_t>(rows * ldo));
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (auto& a : addend)
    a = u(rng);
  const std::vector<float> plain = run<float>(x, w, c.m, c.n, c.k, GemmEpilogue::kF32, c.n, nullptr);
  const std::vector<float> added = run<float>(x, w, c.m, c.n, c.k, GemmEpilogue::kF32, c.n, &addend);
  const std::vector<uint16_t> rounded = run<uint16_t>(x, w, c.m, c.n, c.k, GemmEpilogue::kBf16, c.n, nullptr);
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t col = 0; col < ldo; ++col) {
      const size_t i = static_cast<size_t>(r * ldo + col);
      const bool inside = r < c.m && col < c.n;
      const float want_added = inside ? addend[i] + plain[i] : addend[i];
      if (added[i] != want_added && bad++ < 5) ADD_FAILURE() << "addend at " << r << ", " << col;
      const uint16_t want_rounded = inside ? f32_to_bf16(plain[i]) : uint16_t{0x7f7f};
      if (rounded[i] != want_rounded && bad++ < 5) ADD_FAILURE() << "bf16 at " << r << ", " << col;
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(CudaGemmWgmma, ARowsBitsDoNotDependOnItsBatchOrTheTiling) {
  // Row 0 of a 1-row call against the same row at positions 0, 130 and m - 1 of 300- and 512-row calls in
  // each token tile (130: a 128-row tile's second, a 192- or 256-row tile's first; in the halves a 128-row
  // tile's third or a 192- or 256-row tile's second), raster groups of 1 and 2, whole and halved.
  const int64_t n = 1280, k = 512;
  const auto w = random_bf16(static_cast<size_t>(n * k), 21);
  const auto row = random_bf16(static_cast<size_t>(k), 22);
  const std::vector<float> alone = run<float>(row, w, 1, n, k, GemmEpilogue::kF32, n, nullptr, 0);
  for (const int64_t m : {300, 512}) {
    auto x = random_bf16(static_cast<size_t>(m * k), 23 + static_cast<uint32_t>(m));
    for (const int64_t at : {int64_t{0}, int64_t{130}, m - 1})
      std::copy(row.begin(), row.end(), x.begin() + at * k);
    for (const int tile : {128, 192, 256}) {
      for (const bool split : {true, false}) {
        const Tiling tiling{tile, tile == 192 ? 2 : 1, split};
        const std::vector<float> batch = run<float>(x, w, m, n, k, GemmEpilogue::kF32, n, nullptr, 0, tiling);
        for (const int64_t at : {int64_t{0}, int64_t{130}, m - 1}) {
          SCOPED_TRACE(::testing::Message()
                       << "m " << m << " tile " << tile << " split " << split << " at " << at);
          EXPECT_EQ(std::memcmp(alone.data(), batch.data() + at * (n + 8), static_cast<size_t>(n) * 4), 0);
        }
      }
    }
  }
}

TEST(CudaGemmWgmma, TheTokenTileWeighsRoundsAgainstItsCostPerRow) {
  // The Llama-3-8B gate/up (112 weight-tile pairs) on the H100's 66 clusters, rounds x tile x cost per row
  // (256: 1, 192: 1.10, 128: 1.17). Whole last rounds: 333 rows as 2 x 192 (4 rounds: 845) rather than 2 x
  // 256 (4: 1,024) or 3 x 128 (6: 899); 512 as 2 x 256 (4: 1,024) rather than 4 x 128 (7: 1,048); 768 as 4 x
  // 192 (7: 1,478) rather than 3 x 256 (6: 1,536); 1,024 and 8,192 in 256-token tiles; one row in 128.
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(333, 28672, 66, false), 192);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(512, 28672, 66, false), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(768, 28672, 66, false), 192);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(1024, 28672, 66, false), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(8192, 28672, 66, false), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(1, 28672, 66, false), 128);
  // A last round of at most 33 units runs as halves (half-tile rows at 1.17 for 128, 1.25 for 96, 1.40 for
  // 64): 333 rows as 2 x 192 (224 units: 3 rounds and 52 halves of 96, 754) rather than 2 x 256 (3 rounds and
  // 52 halves of 128, 918); 512 as 2 x 256 (918) rather than 4 x 128 (7 rounds: 1,048); 768 as 3 x 256 (336
  // units: 5 rounds and 12 halves, 1,430) rather than 4 x 192 (7 rounds: 1,478); 1,024 (448 units, 52 past 6
  // rounds: no split) and 8,192 in 256; one row in 128 (112 units, 46 past a round: no split).
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(333, 28672, 66), 192);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(512, 28672, 66), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(768, 28672, 66), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(1024, 28672, 66), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(8192, 28672, 66), 256);
  EXPECT_EQ(cuda_kernels::gemm_wgmma_token_tile(1, 28672, 66), 128);
}

TEST(CudaGemmWgmma, SwigluIsSiluOfTheGateProductTimesTheUpProduct) {
  // The results leave as tensor stores of whole [tile, 32] boxes: each token tile, the rows past m and the
  // columns past f (the row stride holds 8 more) left unwritten.
  const int64_t f = 640, k = 256;  // w = [gate (f rows) | up (f rows)], n = 2 f: 5 weight-tile pairs
  const Case cases[] = {{1, 0, 0, {}},         {200, 0, 0, {128, 2}}, {200, 0, 0, {128, 2, false}},
                        {333, 0, 0, {192, 0}}, {333, 0, 0, {256, 1}}, {333, 0, 0, {256, 1, false}},
                        {520, 0, 0, {128, 0}}};
  for (const Case& c : cases) {
    const int64_t m = c.m;
    SCOPED_TRACE(::testing::Message()
                 << "m " << m << " tile " << c.tiling.token_tile << " split " << c.tiling.split);
    const auto x = random_bf16(static_cast<size_t>(m * k), 31 + static_cast<uint32_t>(m));
    const auto w = random_bf16(static_cast<size_t>(2 * f * k), 32);
    // The plain product gives the same f32 accumulators (same k order).
    const std::vector<float> product = run<float>(x, w, m, 2 * f, k, GemmEpilogue::kF32, 2 * f, nullptr);
    const std::vector<uint16_t> fused =
        run<uint16_t>(x, w, m, 2 * f, k, GemmEpilogue::kSwiglu, f, nullptr, 3, c.tiling);
    const int64_t ldp = 2 * f + 8, ldf = f + 8;
    int bad = 0;
    for (int64_t r = 0; r < m + 3; ++r) {
      for (int64_t i = 0; i < ldf; ++i) {
        const uint16_t got = fused[static_cast<size_t>(r * ldf + i)];
        if (r >= m || i >= f) {
          if (got != 0x7f7f && bad++ < 5) ADD_FAILURE() << "wrote outside: row " << r << " col " << i;
          continue;
        }
        const float g = product[static_cast<size_t>(r * ldp + i)];
        const float u = product[static_cast<size_t>(r * ldp + f + i)];
        const float want = g / (1.0f + std::exp(-g)) * u;
        // expf on the device and the host may differ in the last f32 bit: one bf16 step at most.
        const int distance = std::abs(static_cast<int>(static_cast<int16_t>(got)) -
                                      static_cast<int>(static_cast<int16_t>(f32_to_bf16(want))));
        if (distance > 1 && bad++ < 5)
          ADD_FAILURE() << "row " << r << " col " << i << ": " << bf16_to_f32(got) << " against " << want;
      }
    }
    EXPECT_EQ(bad, 0);
  }
}

TEST(CudaGemmWgmma, ShapesItCannotTakeAreRefused) {
  int device = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  GemmWgmmaArgs a;
  a.x = reinterpret_cast<const __nv_bfloat16*>(uintptr_t{256});
  a.w = a.x;
  a.out = reinterpret_cast<void*>(uintptr_t{256});
  a.m = 10, a.n = 512, a.k = 128, a.ldo = 512;
  EXPECT_TRUE(cuda_kernels::gemm_wgmma_supported(device, a));
  // Whether a with one change is taken.
  auto taken = [&](auto change) {
    GemmWgmmaArgs b = a;
    change(b);
    return cuda_kernels::gemm_wgmma_supported(device, b);
  };
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.k = 96; }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.n = 384; }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.x = reinterpret_cast<const __nv_bfloat16*>(uintptr_t{258}); }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.ldo = 500; }));  // narrower than its columns
  EXPECT_TRUE(taken([](GemmWgmmaArgs& b) {
    b.epilogue = GemmEpilogue::kSwiglu;
    b.ldo = 256;  // n / 2 columns
  }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) {
    b.epilogue = GemmEpilogue::kBf16;
    b.addend = reinterpret_cast<const float*>(uintptr_t{256});
  }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.token_tile = 64; }));
  EXPECT_FALSE(taken([](GemmWgmmaArgs& b) { b.group_pairs = -1; }));
}

}  // namespace
}  // namespace autoglm

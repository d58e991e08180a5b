// argmax on the CPU backend: the greedy rule of the sampler (lowest index among ties, NaN and -inf never
// chosen, 0 for a row with nothing else), on random rows with planted ties, NaN and infinities; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/argmax.h"
#include "support/guarded_output.h"

namespace autoglm {
namespace {

using test::make_cpu;

constexpr float kInf = std::numeric_limits<float>::infinity();

int32_t reference(const std::vector<float>& row) {
  int32_t best = 0;
  bool found = false;
  for (size_t i = 0; i < row.size(); ++i) {
    if (std::isnan(row[i]) || row[i] == -kInf) continue;
    if (!found || row[i] > row[static_cast<size_t>(best)]) {
      best = static_cast<int32_t>(i);
      found = true;
    }
  }
  return best;
}

std::vector<int32_t> run(const std::vector<float>& x, int64_t rows, int64_t c) {
  auto cpu = make_cpu();
  std::vector<int32_t> out(static_cast<size_t>(rows), -7);
  const Status s =
      argmax(*cpu, {TensorView{const_cast<float*>(x.data()), DType::kF32, Shape{rows, c}, Device{}},
                    TensorView{out.data(), DType::kI32, Shape{rows}, Device{}}});
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

TEST(Argmax, RandomRowsWithTiesNansAndInfinities) {
  std::mt19937 rng(11);
  for (int64_t c : {1, 2, 7, 1024, 128256}) {
    const int64_t rows = c > 10000 ? 3 : 37;
    std::vector<float> x(static_cast<size_t>(rows * c));
    for (float& v : x)
      v = static_cast<float>(static_cast<int>(rng() % 64)) - 32;  // few distinct values: many ties
    for (int k = 0; k < 20; ++k) {
      const size_t at = rng() % x.size();
      x[at] = (k % 3 == 0) ? std::nanf("") : (k % 3 == 1 ? -kInf : 31.5f);
    }
    const std::vector<int32_t> got = run(x, rows, c);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> row(x.begin() + r * c, x.begin() + (r + 1) * c);
      EXPECT_EQ(got[static_cast<size_t>(r)], reference(row)) << "c " << c << " row " << r;
    }
  }
}

TEST(Argmax, EdgeRows) {
  const float nan = std::nanf("");
  EXPECT_EQ(run({nan, nan, nan}, 1, 3)[0], 0);
  EXPECT_EQ(run({-kInf, -kInf}, 1, 2)[0], 0);
  EXPECT_EQ(run({nan, -kInf, -5.0f, -5.0f}, 1, 4)[0], 2);
  EXPECT_EQ(run({1.0f, kInf, kInf}, 1, 3)[0], 1);
  EXPECT_EQ(run({3.0f, 3.0f}, 1, 2)[0], 0);
}

TEST(Argmax, RejectsBadArguments) {
  auto cpu = make_cpu();
  std::vector<float> x(6);
  std::vector<int32_t> out(3);
  const TensorView xv{x.data(), DType::kF32, Shape{3, 2}, Device{}};
  EXPECT_FALSE(argmax(*cpu, {xv, TensorView{out.data(), DType::kI32, Shape{2}, Device{}}}).is_ok());
  EXPECT_FALSE(argmax(*cpu, {xv, TensorView{out.data(), DType::kF32, Shape{3}, Device{}}}).is_ok());
  EXPECT_FALSE(argmax(*cpu, {TensorView{x.data(), DType::kF32, Shape{6}, Device{}},
                             TensorView{out.data(), DType::kI32, Shape{6}, Device{}}})
                   .is_ok());
  EXPECT_FALSE(argmax(*cpu, {TensorView{x.data(), DType::kF32, Shape{3, 0}, Device{}},
                             TensorView{out.data(), DType::kI32, Shape{3}, Device{}}})
                   .is_ok());
}

}  // namespace
}  // namespace autoglm

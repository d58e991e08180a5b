// The CPU kernels' 8-lane exp (kernels/vec_exp.h) against std::exp in double: relative error over the whole
// clamped range, the clamps themselves, and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/kernels/vec_exp.h"

// Vec8 values pass only between inlined functions here.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm {
namespace {

float lane0(float x) {
  return cpu_vec::exp(cpu_vec::splat(x))[0];
}

TEST(VecExp, RelativeErrorUnderFourUlpAcrossTheRange) {
  double worst = 0;
  for (double x = -87.0; x <= 88.5; x += 1.0 / 1024 + 1e-7) {
    const float xf = static_cast<float>(x);
    const double want = std::exp(static_cast<double>(xf));
    worst = std::max(worst, std::abs(lane0(xf) - want) / want);
  }
  EXPECT_LT(worst, 4 * std::numeric_limits<float>::epsilon()) << worst;
}

TEST(VecExp, EveryLaneComputesItsOwnValue) {
  const cpu_vec::Vec8 x{-3.5f, -1.0f, -0.25f, 0.0f, 0.5f, 1.0f, 2.0f, 10.0f};
  const cpu_vec::Vec8 y = cpu_vec::exp(x);
  for (int i = 0; i < cpu_vec::kWidth; ++i)
    EXPECT_NEAR(y[i], std::exp(x[i]), 4e-7 * std::exp(x[i])) << i;
}

TEST(VecExp, ClampsAndNan) {
  EXPECT_EQ(lane0(0.0f), 1.0f);
  EXPECT_GT(lane0(-1000.0f), 0.0f);
  EXPECT_LT(lane0(-1000.0f), 1e-37f);
  EXPECT_GT(lane0(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isfinite(lane0(1000.0f)));
  EXPECT_GT(lane0(1000.0f), 1e38f);
  EXPECT_TRUE(std::isnan(lane0(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace autoglm

// vmath's branch-free functions against the correctly rounded values (double precision), over
// dense sweeps of their ranges, to the accuracy each one states.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "kernels/simd/vector_math.hpp"

namespace bp {
namespace {

namespace vm = kernels::simd::vmath;

// Distance of `got` from `exact` in units in the last place of the float nearest to `exact`.
double ulps(float got, double exact) {
  const float near = static_cast<float>(exact);
  const float up = std::nextafter(std::fabs(near), std::numeric_limits<float>::infinity());
  return std::fabs(static_cast<double>(got) - exact) / (up - std::fabs(near));
}

// The worst distance in ulps over `steps` evenly spaced points of [lo, hi].
double worst_ulps(const std::function<float(float)>& f, const std::function<double(double)>& exact,
                  float lo, float hi, int steps = 200001) {
  double worst = 0;
  for (int i = 0; i < steps; ++i) {
    const float x = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(steps - 1);
    worst = std::max(worst, ulps(f(x), exact(static_cast<double>(x))));
  }
  return worst;
}

TEST(VectorMath, ExpIsWithinTwoUlpsFromUnderflowToOverflow) {
  EXPECT_LE(worst_ulps(
                vm::exp, [](double x) { return std::exp(x); }, -103.0f, 88.7f),
            2.0);
  EXPECT_EQ(vm::exp(-104.5f), 0.0f);
  EXPECT_EQ(vm::exp(89.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(vm::exp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(vm::exp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(vm::exp(0.0f), 1.0f);
}

TEST(VectorMath, Expm1KeepsItsRelativeAccuracyNearZero) {
  EXPECT_LE(worst_ulps(
                vm::expm1, [](double x) { return std::expm1(x); }, -20.0f, 20.0f),
            3.0);
  EXPECT_LE(worst_ulps(
                vm::expm1, [](double x) { return std::expm1(x); }, -1e-3f, 1e-3f),
            2.0);
}

TEST(VectorMath, Log1pIsWithinThreeUlpsOnTheUnitInterval) {
  EXPECT_LE(worst_ulps(
                vm::log1p_unit, [](double y) { return std::log1p(y); }, 0.0f, 1.0f),
            3.0);
  EXPECT_LE(worst_ulps(
                vm::log1p_unit, [](double y) { return std::log1p(y); }, 0.0f, 1e-4f),
            2.0);
}

TEST(VectorMath, SigmoidAndTanhAreWithinAFewUlps) {
  const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  EXPECT_LE(worst_ulps(vm::sigmoid, sigmoid, -87.0f, 30.0f), 3.0);
  // Below e^-87 the results are subnormal, with fewer bits: compare them absolutely.
  EXPECT_NEAR(vm::sigmoid(-100.0f), sigmoid(-100.0), 1e-45);
  EXPECT_LE(worst_ulps(
                vm::tanh, [](double x) { return std::tanh(x); }, -12.0f, 12.0f),
            3.0);
  EXPECT_EQ(vm::tanh(1e6f), 1.0f);
  EXPECT_EQ(vm::tanh(-1e6f), -1.0f);
  EXPECT_EQ(vm::tanh(-0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(vm::tanh(-0.0f)));
}

TEST(VectorMath, NormalCdfIsWithinItsAbsoluteBound) {
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -12.0f + 24.0f * static_cast<float>(i) / 200000.0f;
    const double exact = 0.5 * std::erfc(-static_cast<double>(x) / std::sqrt(2.0));
    worst = std::max(worst, std::fabs(vm::normal_cdf(x) - exact));
  }
  EXPECT_LE(worst, 3e-7);
  EXPECT_EQ(vm::normal_cdf(-40.0f), 0.0f);
  EXPECT_EQ(vm::normal_cdf(40.0f), 1.0f);
}

}  // namespace
}  // namespace bp

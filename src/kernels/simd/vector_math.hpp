// Float functions without branches or libm calls, so that a loop over them vectorises: clamps and
// selects instead of branches, a polynomial instead of a call. The files that use them compile
// with -fno-trapping-math and -fno-math-errno (src/CMakeLists.txt), which lets the compiler compute
// both sides of a select. Each states its accuracy against the correctly rounded value; NaN in
// gives NaN out. Internal.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace bp::kernels::simd::vmath {

// e^x = 2^n·e^r with n = round(x/ln 2) and |r| <= ln 2/2, e^r by its Taylor polynomial of degree 7
// (truncation below 1e-8 relative). Within 2 units in the last place over the whole range: x is
// clamped to [-104, 88.8], where e^x rounds to 0 and overflows to +inf, and 2^n is applied in two
// halves so that the subnormal results below e^-87.3 come out right too.
inline float exp(float x) {
  const float c = std::min(std::max(x, -104.0f), 88.8f);
  constexpr float kShift = 12582912.0f;  // 1.5·2²³: adding it rounds to an integer in the low bits
  const float t = c * 1.44269504f + kShift, n = t - kShift;
  const float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 in two parts
  float p = 1.0f / 5040;
  for (float k : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = p * r + k;
  const int32_t e = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShift);
  const int32_t half = e >> 1;
  return p * std::bit_cast<float>((half + 127) << 23) *
         std::bit_cast<float>((e - half + 127) << 23);
}

// e^x - 1, to a few units in the last place relative to the result: for |x| <= 1/2 its Taylor
// polynomial of degree 9 (no cancellation near 0), elsewhere e^x - 1.
inline float expm1(float x) {
  float p = 1.0f / 362880;
  for (float k :
       {1.0f / 40320, 1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f})
    p = p * x + k;
  return std::fabs(x) <= 0.5f ? p * x : exp(x) - 1.0f;
}

// ln(1 + y) for y in [0, 1], within 3 units in the last place: 2·atanh(s) with s = y/(2 + y), or
// ln 2 + 2·atanh(s) with s = (y - 1)/(y + 3) above √2 - 1, so |s| <= 0.172, and atanh by its odd
// series to s¹¹.
inline float log1p_unit(float y) {
  const bool high = y > 0.41421356f;
  const float s = high ? (y - 1.0f) / (y + 3.0f) : y / (2.0f + y);
  const float s2 = s * s;
  float p = 1.0f / 11;
  for (float k : {1.0f / 9, 1.0f / 7, 1.0f / 5, 1.0f / 3, 1.0f}) p = p * s2 + k;
  return (high ? 0.693147181f : 0.0f) + 2.0f * s * p;
}

// 1/(1 + e^-x), as e^x/(1 + e^x) for x < 0 (down to the subnormal values), to a few units in the
// last place for either sign of x.
inline float sigmoid(float x) {
  const float e = exp(-std::fabs(x)), s = 1.0f / (1.0f + e);
  return x < 0 ? e * s : s;
}

// tanh x = expm1(2|x|)/(expm1(2|x|) + 2) with x's sign, to a few units in the last place; |x| is
// clamped at 9, where tanh rounds to 1.
inline float tanh(float x) {
  const float m = expm1(2.0f * std::min(std::fabs(x), 9.0f));
  return std::copysign(m / (m + 2.0f), x);
}

// The standard normal CDF Φ(x) = erfc(-x/√2)/2, with erfc(z) for z >= 0 as a polynomial in
// 1/(1 + 0.3275911·z) times e^-z² (Abramowitz and Stegun 7.1.26): within 3e-7 of Φ (absolute).
// erfc of the negative argument is 2 - erfc(|z|), so the lower tail has no cancellation.
inline float normal_cdf(float x) {
  const float z = std::fabs(x) * 0.707106781f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float p = 1.061405429f;
  for (float k : {-1.453152027f, 1.421413741f, -0.284496736f, 0.254829592f}) p = p * t + k;
  const float tail = 0.5f * p * t * exp(-z * z);  // Φ(-|x|)
  return x < 0 ? tail : 1.0f - tail;
}

// The standard normal density φ(x) = e^(-x²/2)/√(2π).
inline float normal_pdf(float x) {
  return exp(-0.5f * x * x) * 0.398942280f;
}

}  // namespace bp::kernels::simd::vmath

// Reference elementwise kernels: each function's forward and derivative side by side.
#include <cmath>
#include <numbers>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace bp::kernels::reference {

namespace {

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;

float stable_sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

// Runs `f(i)` for i in [0, n), in parallel when n is large enough to pay for it.
template <typename F>
void parallel_for(int64_t n, F f) {
  kernels::parallel_for(n, n > kParallelGrain, f);
}

}  // namespace

void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n) {
  switch (op) {
    case Unary::neg:
      parallel_for(n, [=](int64_t i) { y[i] = -x[i]; });
      break;
    case Unary::exp:
      parallel_for(n, [=](int64_t i) { y[i] = std::exp(x[i]); });
      break;
    case Unary::log:
      parallel_for(n, [=](int64_t i) { y[i] = std::log(x[i]); });
      break;
    case Unary::sqrt:
      parallel_for(n, [=](int64_t i) { y[i] = std::sqrt(x[i]); });
      break;
    case Unary::abs:
      parallel_for(n, [=](int64_t i) { y[i] = std::fabs(x[i]); });
      break;
    case Unary::pow:
      if (alpha == 2.0f)  // square(): x·x is what powf(x, 2) rounds to, without the libm call
        parallel_for(n, [=](int64_t i) { y[i] = x[i] * x[i]; });
      else
        parallel_for(n, [=](int64_t i) { y[i] = std::pow(x[i], alpha); });
      break;
    case Unary::clamp:
      parallel_for(n, [=](int64_t i) { y[i] = std::fmin(std::fmax(x[i], alpha), beta); });
      break;
    case Unary::sigmoid:
      parallel_for(n, [=](int64_t i) { y[i] = stable_sigmoid(x[i]); });
      break;
    case Unary::tanh:
      parallel_for(n, [=](int64_t i) { y[i] = std::tanh(x[i]); });
      break;
    case Unary::relu:
      parallel_for(n, [=](int64_t i) { y[i] = x[i] > 0 ? x[i] : 0.0f; });
      break;
    case Unary::leaky_relu:
      parallel_for(n, [=](int64_t i) { y[i] = x[i] > 0 ? x[i] : alpha * x[i]; });
      break;
    case Unary::elu:
      parallel_for(n, [=](int64_t i) { y[i] = x[i] > 0 ? x[i] : alpha * std::expm1(x[i]); });
      break;
    case Unary::selu:
      parallel_for(n, [=](int64_t i) {
        y[i] = kSeluScale * (x[i] > 0 ? x[i] : kSeluAlpha * std::expm1(x[i]));
      });
      break;
    case Unary::gelu:
      // x·Φ(x) with Φ the standard normal CDF.
      parallel_for(n, [=](int64_t i) {
        y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * std::numbers::sqrt2_v<float> / 2));
      });
      break;
    case Unary::softplus:
      // (1/β)·log(1 + e^{βx}), linear above the threshold to avoid overflow.
      parallel_for(n, [=](int64_t i) {
        float bx = alpha * x[i];
        y[i] = bx > beta ? x[i] : std::log1p(std::exp(bx)) / alpha;
      });
      break;
    case Unary::silu:
      parallel_for(n, [=](int64_t i) { y[i] = x[i] * stable_sigmoid(x[i]); });
      break;
  }
}

void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n) {
  switch (op) {
    // d(-x) = -1
    case Unary::neg:
      parallel_for(n, [=](int64_t i) { gx[i] = -gy[i]; });
      break;
    // d e^x = e^x
    case Unary::exp:
      parallel_for(n, [=](int64_t i) { gx[i] = gy[i] * y[i]; });
      break;
    // d ln x = 1/x
    case Unary::log:
      parallel_for(n, [=](int64_t i) { gx[i] = gy[i] / x[i]; });
      break;
    // d √x = 1/(2√x)
    case Unary::sqrt:
      parallel_for(n, [=](int64_t i) { gx[i] = gy[i] / (2.0f * y[i]); });
      break;
    // d|x| = sign(x)
    case Unary::abs:
      parallel_for(n, [=](int64_t i) { gx[i] = x[i] > 0 ? gy[i] : (x[i] < 0 ? -gy[i] : 0.0f); });
      break;
    // d x^p = p·x^(p-1)
    case Unary::pow:
      if (alpha == 2.0f)
        parallel_for(n, [=](int64_t i) { gx[i] = gy[i] * 2.0f * x[i]; });
      else
        parallel_for(n, [=](int64_t i) {
          gx[i] = alpha == 0.0f ? 0.0f : gy[i] * alpha * std::pow(x[i], alpha - 1.0f);
        });
      break;
    // d clamp = 1 inside [lo, hi], 0 outside
    case Unary::clamp:
      parallel_for(n, [=](int64_t i) { gx[i] = x[i] >= alpha && x[i] <= beta ? gy[i] : 0.0f; });
      break;
    // dσ = σ(1-σ)
    case Unary::sigmoid:
      parallel_for(n, [=](int64_t i) { gx[i] = gy[i] * y[i] * (1.0f - y[i]); });
      break;
    // d tanh = 1 - tanh²
    case Unary::tanh:
      parallel_for(n, [=](int64_t i) { gx[i] = gy[i] * (1.0f - y[i] * y[i]); });
      break;
    // d relu = [x > 0]
    // (gy is read unconditionally so that the select vectorises instead of branching at random)
    case Unary::relu:
      parallel_for(n, [=](int64_t i) {
        const float g = gy[i];
        gx[i] = x[i] > 0 ? g : 0.0f;
      });
      break;
    // d leaky_relu = 1 or slope
    case Unary::leaky_relu:
      parallel_for(n, [=](int64_t i) { gx[i] = x[i] > 0 ? gy[i] : alpha * gy[i]; });
      break;
    // d elu = 1, or α·e^x = y + α for x ≤ 0
    case Unary::elu:
      parallel_for(n, [=](int64_t i) { gx[i] = x[i] > 0 ? gy[i] : gy[i] * (y[i] + alpha); });
      break;
    // d selu = scale, or scale·α·e^x
    case Unary::selu:
      parallel_for(n, [=](int64_t i) {
        gx[i] = gy[i] * kSeluScale * (x[i] > 0 ? 1.0f : kSeluAlpha * std::exp(x[i]));
      });
      break;
    // d xΦ(x) = Φ(x) + x·φ(x)
    case Unary::gelu:
      parallel_for(n, [=](int64_t i) {
        float cdf = 0.5f * (1.0f + std::erf(x[i] * std::numbers::sqrt2_v<float> / 2));
        float pdf = std::exp(-0.5f * x[i] * x[i]) * std::numbers::inv_sqrtpi_v<float> /
                    std::numbers::sqrt2_v<float>;
        gx[i] = gy[i] * (cdf + x[i] * pdf);
      });
      break;
    // d softplus = σ(βx) (1 above the threshold)
    case Unary::softplus:
      parallel_for(n, [=](int64_t i) {
        float bx = alpha * x[i];
        gx[i] = bx > beta ? gy[i] : gy[i] * stable_sigmoid(bx);
      });
      break;
    // d xσ(x) = σ + xσ(1-σ)
    case Unary::silu:
      parallel_for(n, [=](int64_t i) {
        float s = stable_sigmoid(x[i]);
        gx[i] = gy[i] * (s + x[i] * s * (1.0f - s));
      });
      break;
  }
}

}  // namespace bp::kernels::reference

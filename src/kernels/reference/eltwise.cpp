// Reference elementwise kernels. Every function is a unit with its formula and derivative side by
// side: the activations in backprop/activation.hpp, the math functions here. One loop serves them
// all.
#include <cmath>

#include "backprop/activation.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/unit_call.hpp"

namespace bp::kernels::reference {

namespace math {

// -x;  d = -1
struct neg {
  static float forward(float x) { return -x; }
  static float backward(float, float, float gy) { return -gy; }
};

// e^x;  d = e^x = y
struct exp {
  static float forward(float x) { return std::exp(x); }
  static float backward(float, float y, float gy) { return gy * y; }
};

// ln x;  d = 1/x
struct log {
  static float forward(float x) { return std::log(x); }
  static float backward(float x, float, float gy) { return gy / x; }
};

// √x;  d = 1/(2√x)
struct sqrt {
  static float forward(float x) { return std::sqrt(x); }
  static float backward(float, float y, float gy) { return gy / (2.0f * y); }
};

// |x|;  d = sign(x), 0 at 0
struct abs {
  static float forward(float x) { return std::fabs(x); }
  static float backward(float x, float, float gy) { return x > 0 ? gy : (x < 0 ? -gy : 0.0f); }
};

// x^p;  d = p·x^(p-1). x·x for p = 2 (square()), which is what powf rounds to, without libm.
struct pow {
  static float forward(float x, float p) { return p == 2.0f ? x * x : std::pow(x, p); }
  static float backward(float x, float, float gy, float p) {
    if (p == 2.0f) return gy * 2.0f * x;
    return p == 0.0f ? 0.0f : gy * p * std::pow(x, p - 1.0f);
  }
};

// min(max(x, lo), hi);  d = 1 inside [lo, hi], 0 outside
struct clamp {
  static float forward(float x, float lo, float hi) { return std::fmin(std::fmax(x, lo), hi); }
  static float backward(float x, float, float gy, float lo, float hi) {
    return x >= lo && x <= hi ? gy : 0.0f;
  }
};

}  // namespace math

namespace {

// Every operand is loaded unconditionally, so a unit's selects vectorise instead of branching; the
// parameters are locals of the loop, which the stores could otherwise be thought to overwrite.
template <typename U>
void map_forward(const float alpha, const float beta, const float* x, float* y, int64_t n) {
  parallel_ranges(n, n > kParallelGrain, [=](int64_t begin, int64_t end) {
    const float a = alpha, b = beta;
    for (int64_t i = begin; i < end; ++i) y[i] = forward_of<U>(x[i], a, b);
  });
}

template <typename U>
void map_backward(const float alpha, const float beta, const float* x, const float* y,
                  const float* gy, float* gx, int64_t n) {
  parallel_ranges(n, n > kParallelGrain, [=](int64_t begin, int64_t end) {
    const float a = alpha, b = beta;
    for (int64_t i = begin; i < end; ++i) {
      const float xi = x[i], yi = y[i], gyi = gy[i];
      gx[i] = backward_of<U>(xi, yi, gyi, a, b);
    }
  });
}

// Calls f(unit) with the unit of `op`.
template <typename F>
void with_unit(Unary op, F f) {
  switch (op) {
#define BP_MATH(unit) \
  case Unary::unit:   \
    return f(math::unit{});
#define BP_ACTIVATION(unit, ...) \
  case Unary::unit:              \
    return f(activation::unit{});
    BP_MATH_FUNCTIONS(BP_MATH)
    BP_ACTIVATIONS(BP_ACTIVATION, BP_ACTIVATION)
#undef BP_MATH
#undef BP_ACTIVATION
  }
}

}  // namespace

void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n) {
  with_unit(op, [&]<typename U>(U) { map_forward<U>(alpha, beta, x, y, n); });
}

void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n) {
  with_unit(op, [&]<typename U>(U) { map_backward<U>(alpha, beta, x, y, gy, gx, n); });
}

}  // namespace bp::kernels::reference

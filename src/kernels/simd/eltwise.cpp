// Vectorised elementwise kernels for every activation and e^x. Each fast unit is the reference
// unit (backprop/activation.hpp) with the directions that call libm rewritten on vmath's
// branch-free functions (kernels/simd/vector_math.hpp); the rest of each unit is the reference's
// own formula, which vectorises as it is. The loops are compiled for the widest vectors the CPU has
// (chosen when the library loads), so even a few thousand elements take a fraction of a microsecond
// per thousand, with no call overhead to amortise.
#include "kernels/simd/vector_math.hpp"

#include "backprop/activation.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd/vector_clones.hpp"
#include "kernels/unit_call.hpp"

namespace bp::kernels::simd {

namespace {

namespace unit {

// e^x;  d = y
struct exp {
  static float forward(float x) { return vmath::exp(x); }
  static float backward(float, float y, float gy) { return gy * y; }
};

struct sigmoid : activation::sigmoid {
  static float forward(float x) { return vmath::sigmoid(x); }
};

struct tanh : activation::tanh {
  static float forward(float x) { return vmath::tanh(x); }
};

struct elu : activation::elu {
  static float forward(float x, float alpha) { return x > 0 ? x : alpha * vmath::expm1(x); }
};

struct selu : activation::selu {
  static float forward(float x) { return scale * (x > 0 ? x : alpha * vmath::expm1(x)); }
};

struct gelu : activation::gelu {
  static float forward(float x) { return x * vmath::normal_cdf(x); }
  static float backward(float x, float, float gy) {
    return gy * (vmath::normal_cdf(x) + x * vmath::normal_pdf(x));
  }
};

// log(1 + e^{βx})/β = (max(βx, 0) + log(1 + e^-|βx|))/β, so that the logarithm's argument is in
// [1, 2].
struct softplus : activation::softplus {
  static float forward(float x, float beta) {
    const float bx = beta * x;
    const float v = (std::max(bx, 0.0f) + vmath::log1p_unit(vmath::exp(-std::fabs(bx)))) / beta;
    return bx > threshold ? x : v;
  }
  static float backward(float x, float, float gy, float beta) {
    const float bx = beta * x;
    return bx > threshold ? gy : gy * vmath::sigmoid(bx);
  }
};

struct silu : activation::silu {
  static float forward(float x) { return x * vmath::sigmoid(x); }
  static float backward(float x, float, float gy) {
    const float s = vmath::sigmoid(x);
    return gy * (s + x * s * (1.0f - s));
  }
};

// With e = e^x and n = e·(e + 2): tanh(log(1 + e)) = n/(n + 2), 1 - tanh² = (4n + 4)/(n + 2)² and
// σ(x) = e/(1 + e). x is clamped at 20 in e, where the tanh rounds to 1 and 1 - tanh² to 0.
struct mish : activation::mish {
  static float forward(float x) {
    const float e = vmath::exp(std::min(x, 20.0f)), n = e * (e + 2.0f);
    return x * (n / (n + 2.0f));
  }
  static float backward(float x, float, float gy) {
    const float e = vmath::exp(std::min(x, 20.0f)), n = e * (e + 2.0f), d = n + 2.0f;
    const float sech2 = x > 20.0f ? 0.0f : (4.0f * n + 4.0f) / (d * d);  // as the reference rounds
    return gy * (n / d + x * (e / (1.0f + e)) * sech2);
  }
};

using relu = activation::relu;
using leaky_relu = activation::leaky_relu;
using hardswish = activation::hardswish;

}  // namespace unit

// Every fast unit, X(name): the activations and the one math function that calls libm.
#define BP_FAST_UNITS(X) \
  X(exp)                 \
  X(sigmoid)             \
  X(tanh) X(relu) X(leaky_relu) X(elu) X(selu) X(gelu) X(softplus) X(silu) X(mish) X(hardswish)

// The loops, inlined into the per-ISA clones below (a function template cannot be cloned itself).
template <typename U>
[[gnu::always_inline]] inline void forward_loop(float alpha, const float* __restrict x,
                                                float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = forward_of<U>(x[i], alpha);
}
template <typename U>
[[gnu::always_inline]] inline void backward_loop(float alpha, const float* __restrict x,
                                                 const float* __restrict y,
                                                 const float* __restrict gy, float* __restrict gx,
                                                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = backward_of<U>(x[i], y[i], gy[i], alpha);
}

// One range of one function; false for a function without a fast unit.
BP_VECTOR_CLONES bool forward_range(Unary op, float alpha, const float* x, float* y, int64_t n) {
  switch (op) {
#define BP_CASE(name)                         \
  case Unary::name:                           \
    forward_loop<unit::name>(alpha, x, y, n); \
    return true;
    BP_FAST_UNITS(BP_CASE)
#undef BP_CASE
    default:
      return false;
  }
}

BP_VECTOR_CLONES bool backward_range(Unary op, float alpha, const float* x, const float* y,
                                     const float* gy, float* gx, int64_t n) {
  switch (op) {
#define BP_CASE(name)                                  \
  case Unary::name:                                    \
    backward_loop<unit::name>(alpha, x, y, gy, gx, n); \
    return true;
    BP_FAST_UNITS(BP_CASE)
#undef BP_CASE
    default:
      return false;
  }
}

bool has_fast_unit(Unary op) {
  switch (op) {
#define BP_CASE(name) case Unary::name:
    BP_FAST_UNITS(BP_CASE)
#undef BP_CASE
    return true;
    default:
      return false;
  }
}

}  // namespace

bool unary_forward(Unary op, float alpha, float, const float* x, float* y, int64_t n) {
  if (!has_fast_unit(op)) return false;
  parallel_ranges(n, n > kParallelGrain, [&](int64_t begin, int64_t end) {
    forward_range(op, alpha, x + begin, y + begin, end - begin);
  });
  return true;
}

bool unary_backward(Unary op, float alpha, float, const float* x, const float* y, const float* gy,
                    float* gx, int64_t n) {
  if (!has_fast_unit(op)) return false;
  parallel_ranges(n, n > kParallelGrain, [&](int64_t begin, int64_t end) {
    backward_range(op, alpha, x + begin, y + begin, gy + begin, gx + begin, end - begin);
  });
  return true;
}

}  // namespace bp::kernels::simd

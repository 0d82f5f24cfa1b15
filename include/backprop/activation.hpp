// The activation functions. Each is one unit: a struct holding its formula (`forward`) and its
// derivative (`backward`: gx from x, y = forward(x) and gy) side by side, and one row in
// BP_ACTIVATIONS, which generates everything else from it: the op (bp::gelu), its autograd kind
// (OpKind::gelu), its kernel, its module class (nn::GELU) and its model-spec name ("gelu").
//
// A unit with a parameter gives its default and says which values it accepts (`valid`, described
// by `accepts`); bp::Error is thrown for any other, naming the function and the parameter, whose
// name is in the list row.
#pragma once

#include <cmath>
#include <numbers>
#include <span>
#include <string_view>

#include "backprop/export.hpp"

namespace bp::activation {

// 1/(1 + e^-x) without overflow for either sign of x.
inline float stable_sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// Standard normal CDF Φ and density φ.
inline float normal_cdf(float x) {
  return 0.5f * (1.0f + std::erf(x * std::numbers::sqrt2_v<float> / 2));
}
inline float normal_pdf(float x) {
  return std::exp(-0.5f * x * x) * std::numbers::inv_sqrtpi_v<float> / std::numbers::sqrt2_v<float>;
}

// σ(x) = 1/(1 + e^-x);  dσ = σ(1 - σ)
struct sigmoid {
  static constexpr const char* formula = "1 / (1 + e^-x)";
  static float forward(float x) { return stable_sigmoid(x); }
  static float backward(float, float y, float gy) { return gy * y * (1.0f - y); }
};

// tanh x;  d tanh = 1 - tanh²
struct tanh {
  static constexpr const char* formula = "hyperbolic tangent";
  static float forward(float x) { return std::tanh(x); }
  static float backward(float, float y, float gy) { return gy * (1.0f - y * y); }
};

// max(x, 0);  d = [x > 0]
struct relu {
  static constexpr const char* formula = "max(x, 0)";
  static float forward(float x) { return x > 0 ? x : 0.0f; }
  static float backward(float x, float, float gy) { return x > 0 ? gy : 0.0f; }
};

// x, or slope·x for x < 0;  d = 1 or slope
struct leaky_relu {
  static constexpr const char* formula = "x, or slope·x for x < 0";
  static constexpr float default_parameter = 0.01f;
  static constexpr const char* accepts = "finite";
  static bool valid(float slope) { return std::isfinite(slope); }
  static float forward(float x, float slope) { return x > 0 ? x : slope * x; }
  static float backward(float x, float, float gy, float slope) { return x > 0 ? gy : slope * gy; }
};

// x, or α·(e^x - 1) for x ≤ 0;  d = 1, or α·e^x = y + α
struct elu {
  static constexpr const char* formula = "x, or alpha·(e^x - 1) for x < 0";
  static constexpr float default_parameter = 1.0f;
  static constexpr const char* accepts = "finite and >= 0";
  static bool valid(float alpha) { return std::isfinite(alpha) && alpha >= 0; }
  static float forward(float x, float alpha) { return x > 0 ? x : alpha * std::expm1(x); }
  static float backward(float x, float y, float gy, float alpha) {
    return x > 0 ? gy : gy * (y + alpha);
  }
};

// scale·elu(x, α) with the self-normalising constants;  d = scale, or scale·α·e^x = y + scale·α
struct selu {
  static constexpr const char* formula = "scaled ELU (self-normalising)";
  static constexpr float alpha = 1.6732632423543772f;
  static constexpr float scale = 1.0507009873554805f;
  static float forward(float x) { return scale * (x > 0 ? x : alpha * std::expm1(x)); }
  static float backward(float x, float y, float gy) {
    return gy * (x > 0 ? scale : y + scale * alpha);
  }
};

// x·Φ(x), the exact GELU;  d = Φ(x) + x·φ(x)
struct gelu {
  static constexpr const char* formula = "x·Φ(x)";
  static float forward(float x) { return x * normal_cdf(x); }
  static float backward(float x, float, float gy) {
    return gy * (normal_cdf(x) + x * normal_pdf(x));
  }
};

// log(1 + e^{βx})/β, exactly x where βx > 20 (no overflow);  d = σ(βx), or 1 there
struct softplus {
  static constexpr const char* formula = "log(1 + e^(beta·x)) / beta";
  static constexpr float default_parameter = 1.0f;
  static constexpr const char* accepts = "finite and > 0";
  static constexpr float threshold = 20.0f;
  static bool valid(float beta) { return std::isfinite(beta) && beta > 0; }
  static float forward(float x, float beta) {
    const float bx = beta * x;
    return bx > threshold ? x : std::log1p(std::exp(bx)) / beta;
  }
  static float backward(float x, float, float gy, float beta) {
    const float bx = beta * x;
    return bx > threshold ? gy : gy * stable_sigmoid(bx);
  }
};

// x·σ(x), also called swish;  d = σ + x·σ(1 - σ)
struct silu {
  static constexpr const char* formula = "x·sigmoid(x)";
  static float forward(float x) { return x * stable_sigmoid(x); }
  static float backward(float x, float, float gy) {
    const float s = stable_sigmoid(x);
    return gy * (s + x * s * (1.0f - s));
  }
};

// x·tanh(softplus(x));  d = tanh(sp) + x·σ(x)·(1 - tanh²(sp)), sp = log(1 + e^x)
struct mish {
  static constexpr const char* formula = "x·tanh(log(1 + e^x))";
  static float forward(float x) { return x * std::tanh(std::log1p(std::exp(x))); }
  static float backward(float x, float, float gy) {
    const float t = std::tanh(std::log1p(std::exp(x)));
    return gy * (t + x * stable_sigmoid(x) * (1.0f - t * t));
  }
};

// x·min(max(x + 3, 0), 6)/6;  d = 0 below -3, (2x + 3)/6 on [-3, 3], 1 above
struct hardswish {
  static constexpr const char* formula = "x·min(max(x + 3, 0), 6) / 6";
  static float forward(float x) {
    return x <= -3.0f ? 0.0f : (x >= 3.0f ? x : x * (x + 3.0f) / 6.0f);
  }
  static float backward(float x, float, float gy) {
    return x < -3.0f ? 0.0f : (x <= 3.0f ? gy * (x / 3.0f + 0.5f) : gy);
  }
};

}  // namespace bp::activation

// The one list of activations, in the order of ActivationKind: X(name, Module) for a function
// without a parameter, P(name, Module, parameter) for one with. `name` is the unit above, the op,
// the kind and the spec name; `Module` the nn class.
// clang-format off
#define BP_ACTIVATIONS(X, P)                                                                \
  X(sigmoid, Sigmoid) X(tanh, Tanh) X(relu, ReLU) P(leaky_relu, LeakyReLU, slope)           \
  P(elu, ELU, alpha) X(selu, SELU) X(gelu, GELU) P(softplus, Softplus, beta) X(silu, SiLU)      \
  X(mish, Mish) X(hardswish, Hardswish)
// clang-format on

namespace bp {

enum class ActivationKind {
#define BP_ACTIVATION_ENUM(name, ...) name,
  BP_ACTIVATIONS(BP_ACTIVATION_ENUM, BP_ACTIVATION_ENUM)
#undef BP_ACTIVATION_ENUM
};

// What the list says of one activation, for listings and messages.
struct ActivationInfo {
  ActivationKind kind;
  std::string_view name;       // op and spec name: "leaky_relu"
  std::string_view module;     // module name: "LeakyReLU"
  std::string_view formula;    // "x, or slope·x for x < 0"
  std::string_view parameter;  // "slope", or empty when it takes none
  float default_parameter;     // 0 when it takes none
  std::string_view accepts;    // "finite and > 0": the values `parameter` may take
};

// Every activation, in the order of ActivationKind.
BP_API std::span<const ActivationInfo> activations();
BP_API const ActivationInfo& activation_info(ActivationKind kind);
// Throws bp::Error naming the activation and its parameter unless `kind` accepts `parameter`.
BP_API void check_activation_parameter(ActivationKind kind, float parameter);

}  // namespace bp

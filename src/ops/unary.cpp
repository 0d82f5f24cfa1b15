// Elementwise math and activation functions. Their formulas and derivatives are units
// (backprop/activation.hpp, kernels/reference/eltwise.cpp); here each op checks its arguments,
// runs the forward kernel and records the backward.
#include <cmath>

#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

Tensor unary(OpKind kind, kernels::Unary op, const Tensor& x, const char* name, float alpha = 0,
             float beta = 0) {
  check_defined(x, name);
  Tensor y = make_tensor(x.shape());
  kernels::unary_forward(op, alpha, beta, x.data(), y.data(), x.numel());
  if (!autograd::any_requires_grad({x})) return y;
  Tensor x_saved = x.detach(), y_saved = y.detach();
  return record(kind, y, {x}, {x_saved, y_saved}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = make_tensor(x_saved.shape());
    kernels::unary_backward(op, alpha, beta, x_saved.data(), y_saved.data(), gy.data(), gx.data(),
                            x_saved.numel());
    return {gx};
  });
}

}  // namespace

Tensor neg(const Tensor& x) {
  return unary(OpKind::neg, kernels::Unary::neg, x, "neg");
}
Tensor exp(const Tensor& x) {
  return unary(OpKind::exp, kernels::Unary::exp, x, "exp");
}
Tensor log(const Tensor& x) {
  return unary(OpKind::log, kernels::Unary::log, x, "log");
}
Tensor sqrt(const Tensor& x) {
  return unary(OpKind::sqrt, kernels::Unary::sqrt, x, "sqrt");
}
Tensor abs(const Tensor& x) {
  return unary(OpKind::abs, kernels::Unary::abs, x, "abs");
}

Tensor pow(const Tensor& x, float exponent) {
  BP_CHECK_AS(ValueError, std::isfinite(exponent), "pow: the exponent must be finite (got {})",
              exponent);
  return unary(OpKind::pow_scalar, kernels::Unary::pow, x, "pow", exponent);
}

Tensor square(const Tensor& x) {
  return pow(x, 2.0f);
}

Tensor clamp(const Tensor& x, float low, float high) {
  BP_CHECK(!(low > high) && !std::isnan(low) && !std::isnan(high),
           "clamp: needs low <= high (got {} and {})", low, high);
  return unary(OpKind::clamp, kernels::Unary::clamp, x, "clamp", low, high);
}

// ---- activations: one op per row of BP_ACTIVATIONS ----

namespace {

constexpr ActivationInfo kActivations[] = {
#define BP_INFO(name, Module) \
  {ActivationKind::name, #name, #Module, activation::name::formula, "", 0.0f, ""},
#define BP_INFO_WITH(name, Module, param)                                  \
  {ActivationKind::name,      #name,  #Module,                             \
   activation::name::formula, #param, activation::name::default_parameter, \
   activation::name::accepts},
    BP_ACTIVATIONS(BP_INFO, BP_INFO_WITH)
#undef BP_INFO
#undef BP_INFO_WITH
};

bool accepts(ActivationKind kind, float parameter) {
  switch (kind) {
#define BP_NO_PARAMETER(name, Module) \
  case ActivationKind::name:          \
    return true;
#define BP_VALID(name, Module, param) \
  case ActivationKind::name:          \
    return activation::name::valid(parameter);
    BP_ACTIVATIONS(BP_NO_PARAMETER, BP_VALID)
#undef BP_NO_PARAMETER
#undef BP_VALID
  }
  return false;
}

}  // namespace

std::span<const ActivationInfo> activations() {
  return kActivations;
}

const ActivationInfo& activation_info(ActivationKind kind) {
  const auto i = static_cast<size_t>(kind);
  BP_CHECK(i < std::size(kActivations), "activation_info: unknown activation kind {}", i);
  return kActivations[i];
}

void check_activation_parameter(ActivationKind kind, float parameter) {
  const ActivationInfo& a = activation_info(kind);
  BP_CHECK_AS(ValueError, accepts(kind, parameter), "{}: {} must be {} (got {})", a.name,
              a.parameter, a.accepts, parameter);
}

#define BP_ACTIVATION_OP(name, Module)                          \
  Tensor name(const Tensor& x) {                                \
    return unary(OpKind::name, kernels::Unary::name, x, #name); \
  }
#define BP_ACTIVATION_OP_WITH(name, Module, param)                     \
  Tensor name(const Tensor& x, float param) {                          \
    check_activation_parameter(ActivationKind::name, param);           \
    return unary(OpKind::name, kernels::Unary::name, x, #name, param); \
  }
BP_ACTIVATIONS(BP_ACTIVATION_OP, BP_ACTIVATION_OP_WITH)
#undef BP_ACTIVATION_OP
#undef BP_ACTIVATION_OP_WITH

Tensor activate(const Tensor& x, ActivationKind kind, std::optional<float> parameter) {
  switch (kind) {
#define BP_CALL(name, Module) \
  case ActivationKind::name:  \
    return name(x);
#define BP_CALL_WITH(name, Module, param) \
  case ActivationKind::name:              \
    return name(x, parameter.value_or(activation::name::default_parameter));
    BP_ACTIVATIONS(BP_CALL, BP_CALL_WITH)
#undef BP_CALL
#undef BP_CALL_WITH
  }
  fail("activate: unknown activation kind {}", static_cast<int>(kind));
}

}  // namespace bp

// Elementwise math and activation functions. The formulas and their derivatives sit side by side
// in kernels/reference/eltwise.cpp; here each op runs the forward kernel and records the backward.
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
  Tensor dx = x.detach(), dy = y.detach();
  return record(kind, y, {x}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = make_tensor(dx.shape());
    kernels::unary_backward(op, alpha, beta, dx.data(), dy.data(), gy.data(), gx.data(),
                            dx.numel());
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
  BP_CHECK(std::isfinite(exponent), "pow: the exponent must be finite (got {})", exponent);
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

Tensor sigmoid(const Tensor& x) {
  return unary(OpKind::sigmoid, kernels::Unary::sigmoid, x, "sigmoid");
}
Tensor tanh(const Tensor& x) {
  return unary(OpKind::tanh, kernels::Unary::tanh, x, "tanh");
}
Tensor relu(const Tensor& x) {
  return unary(OpKind::relu, kernels::Unary::relu, x, "relu");
}

Tensor leaky_relu(const Tensor& x, float negative_slope) {
  BP_CHECK(std::isfinite(negative_slope), "leaky_relu: the slope must be finite (got {})",
           negative_slope);
  return unary(OpKind::leaky_relu, kernels::Unary::leaky_relu, x, "leaky_relu", negative_slope);
}

Tensor elu(const Tensor& x, float alpha) {
  BP_CHECK(std::isfinite(alpha) && alpha >= 0, "elu: alpha must be finite and >= 0 (got {})",
           alpha);
  return unary(OpKind::elu, kernels::Unary::elu, x, "elu", alpha);
}

Tensor selu(const Tensor& x) {
  return unary(OpKind::selu, kernels::Unary::selu, x, "selu");
}
Tensor gelu(const Tensor& x) {
  return unary(OpKind::gelu, kernels::Unary::gelu, x, "gelu");
}

Tensor softplus(const Tensor& x, float beta, float threshold) {
  BP_CHECK(std::isfinite(beta) && beta > 0 && std::isfinite(threshold) && threshold > 0,
           "softplus: beta and threshold must be positive (got {} and {})", beta, threshold);
  return unary(OpKind::softplus, kernels::Unary::softplus, x, "softplus", beta, threshold);
}

Tensor silu(const Tensor& x) {
  return unary(OpKind::silu, kernels::Unary::silu, x, "silu");
}

}  // namespace bp

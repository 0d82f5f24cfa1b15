// Differentiable operations on tensors. Each records itself on the autograd graph when grad mode is
// on and an input requires a gradient. Every function throws bp::Error naming the operation and the
// offending shapes or arguments when its inputs are not valid.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backprop/activation.hpp"
#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// ---- elementwise, with NumPy broadcasting ----
BP_API Tensor add(const Tensor& a, const Tensor& b);
BP_API Tensor sub(const Tensor& a, const Tensor& b);
BP_API Tensor mul(const Tensor& a, const Tensor& b);
BP_API Tensor div(const Tensor& a, const Tensor& b);
// a^b elementwise; requires a > 0 where b is not an integer for a finite gradient.
BP_API Tensor pow(const Tensor& a, const Tensor& b);
BP_API Tensor pow(const Tensor& a, float exponent);
BP_API Tensor neg(const Tensor& x);
BP_API Tensor exp(const Tensor& x);
BP_API Tensor log(const Tensor& x);
BP_API Tensor sqrt(const Tensor& x);
BP_API Tensor abs(const Tensor& x);  // d/dx = sign(x), 0 at 0
BP_API Tensor square(const Tensor& x);
// Limits to [low, high]; requires low <= high. The gradient passes where low <= x <= high.
BP_API Tensor clamp(const Tensor& x, float low, float high);

BP_API Tensor operator+(const Tensor& a, const Tensor& b);
BP_API Tensor operator-(const Tensor& a, const Tensor& b);
BP_API Tensor operator*(const Tensor& a, const Tensor& b);
BP_API Tensor operator/(const Tensor& a, const Tensor& b);
BP_API Tensor operator-(const Tensor& x);
BP_API Tensor operator+(const Tensor& a, float b);
BP_API Tensor operator-(const Tensor& a, float b);
BP_API Tensor operator*(const Tensor& a, float b);
BP_API Tensor operator/(const Tensor& a, float b);
BP_API Tensor operator+(float a, const Tensor& b);
BP_API Tensor operator-(float a, const Tensor& b);
BP_API Tensor operator*(float a, const Tensor& b);
BP_API Tensor operator/(float a, const Tensor& b);

// ---- linear algebra ----
// (..., M, K) @ (..., K, N) -> (..., M, N); leading (batch) dimensions broadcast. Both inputs need
// at least 2 dimensions.
BP_API Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) · weight(out, in)ᵀ + bias(out); bias may be undefined.
BP_API Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- reductions ----
BP_API Tensor sum(const Tensor& x);
BP_API Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdim = false);
BP_API Tensor mean(const Tensor& x);
BP_API Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdim = false);
// Maximum; the gradient flows to the first position holding the maximum.
BP_API Tensor max(const Tensor& x);
BP_API Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);
BP_API Tensor min(const Tensor& x);
BP_API Tensor min(const Tensor& x, int64_t axis, bool keepdim = false);
// Index of the maximum along `axis` (not differentiable); ties go to the first position, and NaN
// counts as larger than any number (the first NaN's index), as in PyTorch.
BP_API std::vector<int64_t> argmax(const Tensor& x, int64_t axis);
// Sums `x` over broadcast dimensions so that it has `shape` (the adjoint of broadcasting).
BP_API Tensor sum_to(const Tensor& x, const Shape& shape);
// Broadcasts x to `shape` (a copy).
BP_API Tensor broadcast_to(const Tensor& x, const Shape& shape);

// ---- shape and indexing ----
BP_API Tensor reshape(const Tensor& x, const Shape& shape);
BP_API Tensor flatten(const Tensor& x, int64_t start_dim = 1);
BP_API Tensor transpose(const Tensor& x, int64_t axis0 = -2, int64_t axis1 = -1);
BP_API Tensor permute(const Tensor& x, std::vector<int64_t> order);
BP_API Tensor concat(const std::vector<Tensor>& xs, int64_t axis = 0);
// Elements start, start+step, ... < end along `axis`; negative start/end count from the end.
BP_API Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
// Picks entries along `axis` (repeats allowed; gradients of repeats add up).
BP_API Tensor index_select(const Tensor& x, int64_t axis, std::span<const int64_t> indices);

// ---- activations ----
// One function per row of BP_ACTIVATIONS (activation.hpp, where each formula and derivative is):
// sigmoid(x), relu(x), leaky_relu(x, slope = 0.01f), elu(x, alpha = 1.0f), gelu(x) (exact,
// x·Φ(x)), softplus(x, beta = 1.0f), silu(x), ... A parameter outside what the unit accepts throws
// bp::Error.
#define BP_ACTIVATION_OP(name, Module) BP_API Tensor name(const Tensor& x);
#define BP_ACTIVATION_OP_WITH(name, Module, param) \
  BP_API Tensor name(const Tensor& x, float param = activation::name::default_parameter);
BP_ACTIVATIONS(BP_ACTIVATION_OP, BP_ACTIVATION_OP_WITH)
#undef BP_ACTIVATION_OP
#undef BP_ACTIVATION_OP_WITH
// The activation `kind` by value; `parameter` defaults to the unit's default (ignored by those
// without one).
BP_API Tensor activate(const Tensor& x, ActivationKind kind, std::optional<float> parameter = {});
inline Tensor swish(const Tensor& x) {
  return silu(x);
}
BP_API Tensor softmax(const Tensor& x, int64_t axis = -1);
BP_API Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// ---- losses ----
enum class Reduction { none, mean, sum };

// Squared error (x - t)²; shapes must match exactly.
BP_API Tensor mse_loss(const Tensor& input, const Tensor& target,
                       Reduction reduction = Reduction::mean);
BP_API Tensor l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::mean);
// 0.5·d² where |d| < delta, else delta·(|d| - 0.5·delta). Requires delta > 0.
BP_API Tensor huber_loss(const Tensor& input, const Tensor& target,
                         Reduction reduction = Reduction::mean, float delta = 1.0f);
// 0.5·d²/beta where |d| < beta, else |d| - 0.5·beta. Requires beta > 0.
BP_API Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                             Reduction reduction = Reduction::mean, float beta = 1.0f);
// Binary cross-entropy on probabilities in [0, 1] (log clamped at -100 as in PyTorch).
BP_API Tensor binary_cross_entropy(const Tensor& probabilities, const Tensor& target,
                                   Reduction reduction = Reduction::mean);
// Binary cross-entropy on logits, computed stably.
BP_API Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                               Reduction reduction = Reduction::mean);
// Cross-entropy of logits (N, C) against class indices in [0, C), fused with log-softmax.
BP_API Tensor cross_entropy(const Tensor& logits, std::span<const int64_t> targets,
                            Reduction reduction = Reduction::mean);
// Negative log-likelihood of log-probabilities (N, C) against class indices.
BP_API Tensor nll_loss(const Tensor& log_probabilities, std::span<const int64_t> targets,
                       Reduction reduction = Reduction::mean);

}  // namespace bp

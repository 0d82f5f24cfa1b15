// Loss functions. mse and l1 compose existing ops; huber, smooth-l1 and the cross-entropies are
// fused nodes so that they stay numerically stable and cheap.
#include <cmath>

#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

void check_same_shape(const Tensor& input, const Tensor& target, const char* op) {
  check_defined(input, op, "input");
  check_defined(target, op, "target");
  BP_CHECK_AS(ShapeError, input.shape() == target.shape(),
              "{}: input shape {} differs from target shape {}", op, to_string(input.shape()),
              to_string(target.shape()));
}

// An elementwise loss node of (input, target): forward(d) computes the loss of one element,
// slope(input, target) its derivative with respect to the input, and target_slope the derivative
// with respect to the target.
template <typename Loss, typename Slope, typename TargetSlope>
Tensor pointwise_loss(OpKind kind, const Tensor& input, const Tensor& target, Loss loss,
                      Slope slope, TargetSlope target_slope) {
  Tensor y = make_tensor(input.shape());
  const float* x = input.data();
  const float* t = target.data();
  for (int64_t i = 0; i < input.numel(); ++i) y.data()[i] = loss(x[i], t[i]);
  Tensor x_saved = input.detach(), t_saved = target.detach();
  bool want_x = input.requires_grad(), want_t = target.requires_grad();
  return record(kind, y, {input, target}, {x_saved, t_saved},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  std::vector<Tensor> grads(2);
                  if (want_x) grads[0] = make_tensor(x_saved.shape());
                  if (want_t) grads[1] = make_tensor(x_saved.shape());
                  for (int64_t i = 0; i < x_saved.numel(); ++i) {
                    float xi = x_saved.data()[i], ti = t_saved.data()[i], g = gy.data()[i];
                    if (want_x) grads[0].data()[i] = g * slope(xi, ti);
                    if (want_t) grads[1].data()[i] = g * target_slope(xi, ti);
                  }
                  return grads;
                });
}

void check_targets(const Tensor& input, std::span<const int64_t> targets, const char* op) {
  check_defined(input, op, "input");
  BP_CHECK_AS(ShapeError, input.dim() == 2, "{}: input must be 2-D (batch, classes), got {}", op,
              to_string(input.shape()));
  BP_CHECK(static_cast<int64_t>(targets.size()) == input.size(0),
           "{}: {} targets for a batch of {}", op, targets.size(), input.size(0));
  for (size_t i = 0; i < targets.size(); ++i)
    BP_CHECK(targets[i] >= 0 && targets[i] < input.size(1),
             "{}: target {} at position {} is not a class index in [0, {})", op, targets[i], i,
             input.size(1));
}

// Applies the reduction to per-sample losses computed inside a fused node: the node's output is
// already reduced, and `scale` is the factor each sample's gradient gets.
Shape reduced_shape(Reduction reduction, int64_t n) {
  return reduction == Reduction::none ? Shape{n} : Shape{};
}
float reduction_scale(Reduction reduction, int64_t n) {
  return reduction == Reduction::mean ? 1.0f / static_cast<float>(n) : 1.0f;
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "mse_loss");
  return reduce(square(input - target), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape(input, target, "l1_loss");
  return reduce(abs(input - target), reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, float delta) {
  check_same_shape(input, target, "huber_loss");
  BP_CHECK(delta > 0 && std::isfinite(delta), "huber_loss: delta must be positive (got {})", delta);
  // d huber/dx = clamp(x - t, -δ, δ)
  auto slope = [delta](float x, float t) { return std::fmin(std::fmax(x - t, -delta), delta); };
  return reduce(pointwise_loss(
                    OpKind::huber, input, target,
                    [delta](float x, float t) {
                      float d = std::fabs(x - t);
                      return d < delta ? 0.5f * d * d : delta * (d - 0.5f * delta);
                    },
                    slope, [slope](float x, float t) { return -slope(x, t); }),
                reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, float beta) {
  check_same_shape(input, target, "smooth_l1_loss");
  BP_CHECK(beta > 0 && std::isfinite(beta), "smooth_l1_loss: beta must be positive (got {})", beta);
  // d smooth_l1/dx = (x - t)/β inside |x - t| < β, sign(x - t) outside
  auto slope = [beta](float x, float t) {
    float d = x - t;
    return std::fabs(d) < beta ? d / beta : (d > 0 ? 1.0f : -1.0f);
  };
  return reduce(pointwise_loss(
                    OpKind::smooth_l1, input, target,
                    [beta](float x, float t) {
                      float d = std::fabs(x - t);
                      return d < beta ? 0.5f * d * d / beta : d - 0.5f * beta;
                    },
                    slope, [slope](float x, float t) { return -slope(x, t); }),
                reduction);
}

Tensor binary_cross_entropy(const Tensor& probabilities, const Tensor& target,
                            Reduction reduction) {
  check_same_shape(probabilities, target, "binary_cross_entropy");
  for (float p : probabilities.values())
    BP_CHECK(p >= 0.0f && p <= 1.0f,
             "binary_cross_entropy: input {} is not a probability in [0, 1] (use "
             "binary_cross_entropy_with_logits for logits)",
             p);
  // Logs are clamped at -100 so that p = 0 or 1 gives a finite loss, as in PyTorch.
  auto clamped_log = [](float v) { return std::fmax(std::log(v), -100.0f); };
  return reduce(
      pointwise_loss(
          OpKind::binary_cross_entropy, probabilities, target,
          [clamped_log](float p, float t) {
            return -(t * clamped_log(p) + (1.0f - t) * clamped_log(1.0f - p));
          },
          // d/dp = (p - t) / (p(1 - p)), guarded near 0 and 1
          [](float p, float t) { return (p - t) / std::fmax(p * (1.0f - p), 1e-12f); },
          // d/dt = log(1 - p) - log(p)
          [clamped_log](float p, float) { return clamped_log(1.0f - p) - clamped_log(p); }),
      reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction) {
  check_same_shape(logits, target, "binary_cross_entropy_with_logits");
  return reduce(pointwise_loss(
                    OpKind::binary_cross_entropy_with_logits, logits, target,
                    // max(x, 0) - x·t + log(1 + e^-|x|): never overflows
                    [](float x, float t) {
                      return std::fmax(x, 0.0f) - x * t + std::log1p(std::exp(-std::fabs(x)));
                    },
                    // d/dx = σ(x) - t
                    [](float x, float t) {
                      float s = x >= 0 ? 1.0f / (1.0f + std::exp(-x))
                                       : std::exp(x) / (1.0f + std::exp(x));
                      return s - t;
                    },
                    // d/dt = -x
                    [](float x, float) { return -x; }),
                reduction);
}

namespace {

// -log_probs[i, target i] per sample, reduced; log_probs is (n, c).
Tensor picked_nll(const Tensor& log_probs, std::span<const int64_t> targets, Reduction reduction) {
  const int64_t n = log_probs.size(0), c = log_probs.size(1);
  const float* lp = log_probs.data();
  Tensor y = Tensor::zeros(reduced_shape(reduction, n));
  float* out = y.data();
  for (int64_t i = 0; i < n; ++i) {
    float loss = -lp[i * c + targets[static_cast<size_t>(i)]];
    if (reduction == Reduction::none)
      out[i] = loss;
    else
      out[0] += loss;
  }
  if (reduction == Reduction::mean) out[0] /= static_cast<float>(n);
  return y;
}

// The gradient of picked_nll with respect to log_probs (`shape`, (n, c)) given the gradient gy of
// its output: -scale·gy at each sample's target, 0 elsewhere.
Tensor picked_nll_backward(const Shape& shape, const std::vector<int64_t>& labels, float scale,
                           Reduction reduction, const Tensor& gy) {
  const int64_t n = shape[0], c = shape[1];
  Tensor gx = Tensor::zeros(shape);
  float* g = gx.data();
  const float* up = gy.data();
  for (int64_t i = 0; i < n; ++i)
    g[i * c + labels[static_cast<size_t>(i)]] = -scale * up[reduction == Reduction::none ? i : 0];
  return gx;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, std::span<const int64_t> targets, Reduction reduction) {
  check_targets(logits, targets, "cross_entropy");
  const int64_t n = logits.size(0), c = logits.size(1);
  BP_CHECK(n > 0 || reduction != Reduction::mean, "cross_entropy: the mean of an empty batch");
  Tensor log_probs = make_tensor(logits.shape());
  kernels::softmax_forward(true, n, c, 1, logits.data(), log_probs.data());
  Tensor y = picked_nll(log_probs, targets, reduction);
  // d CE/d logits = (softmax - onehot(target))·g: log-softmax's backward of NLL's gradient
  std::vector<int64_t> labels(targets.begin(), targets.end());
  const float scale = reduction_scale(reduction, n);
  return record(OpKind::cross_entropy, y, {logits}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor g_log_probs = picked_nll_backward(log_probs.shape(), labels, scale, reduction, gy);
    Tensor gx = make_tensor(log_probs.shape());
    kernels::softmax_backward(true, n, c, 1, log_probs.data(), g_log_probs.data(), gx.data());
    return {gx};
  });
}

Tensor nll_loss(const Tensor& log_probabilities, std::span<const int64_t> targets,
                Reduction reduction) {
  check_targets(log_probabilities, targets, "nll_loss");
  const int64_t n = log_probabilities.size(0);
  BP_CHECK(n > 0 || reduction != Reduction::mean, "nll_loss: the mean of an empty batch");
  Tensor y = picked_nll(log_probabilities, targets, reduction);
  // d NLL/d input = -1 at the target class · upstream
  std::vector<int64_t> labels(targets.begin(), targets.end());
  const float scale = reduction_scale(reduction, n);
  Shape shape = log_probabilities.shape();
  return record(OpKind::nll_loss, y, {log_probabilities},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  return {picked_nll_backward(shape, labels, scale, reduction, gy)};
                });
}

}  // namespace bp

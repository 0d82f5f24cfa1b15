// Normalisation, dropout and embeddings. batch_norm and layer_norm are fused nodes: their
// backward formulas (in kernels/reference/norm.cpp) come from differentiating through the
// statistics once, instead of recording a dozen elementwise ops.
#include "backprop/norm.hpp"

#include <cmath>
#include <span>
#include <vector>

#include "kernels/norm.hpp"
#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

// Checks that an optional per-channel (or per-feature) tensor is undefined or has `shape`.
void check_optional(const Tensor& t, const Shape& shape, const char* op, const char* what) {
  BP_CHECK_AS(ShapeError, !t.defined() || t.shape() == shape, "{}: {} must have shape {}, got {}",
              op, what, to_string(shape), to_string(t.shape()));
}

const float* data_or_null(const Tensor& t) {
  return t.defined() ? t.data() : nullptr;
}

// running = (1 - momentum)·running + momentum·batch, in place (not recorded). PyTorch's
// convention: the running variance is the unbiased estimate.
void update_running(const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                    const Tensor& var, float momentum, double count) {
  const auto unbiased = static_cast<float>(count / (count - 1));
  // The handles share the caller's buffers (the update is the point).
  Tensor rm_handle = running_mean, rv_handle = running_var;
  float* rm = rm_handle.data();
  float* rv = rv_handle.data();
  const float *m = mean.data(), *v = var.data();
  for (int64_t ch = 0; ch < mean.numel(); ++ch) {
    rm[ch] = (1 - momentum) * rm[ch] + momentum * m[ch];
    rv[ch] = (1 - momentum) * rv[ch] + momentum * v[ch] * unbiased;
  }
}

// A float tensor of sums.
Tensor from_sums(std::span<const double> sums) {
  Tensor t = make_tensor({static_cast<int64_t>(sums.size())});
  for (size_t i = 0; i < sums.size(); ++i) t.data()[i] = static_cast<float>(sums[i]);
  return t;
}

// Per-channel sums over `part`'s values, made the whole batch's: totalled over the parts of a
// split batch (one pass is a single part, already whole).
void total(BatchPart part, std::span<double> sums) {
  if (part.sums) part.sums->all_reduce(part.index, sums);
}

// The batch's mean and biased variance per channel (training), from sums over the parts: Σx and
// the count, then Σ(x - mean)². Returns the batch's values per channel.
double batch_statistics(const Tensor& x, BatchPart part, Tensor& mean, Tensor& var) {
  const int64_t n = x.size(0), c = x.size(1), inner = extent(x.shape(), 2, x.shape().size());
  std::vector<double> sums(static_cast<size_t>(c) + 1);
  kernels::batch_norm_sum(n, c, inner, x.data(), nullptr, sums.data());
  sums[static_cast<size_t>(c)] = static_cast<double>(n * inner);
  total(part, sums);
  const double count = sums[static_cast<size_t>(c)];
  BP_CHECK_AS(ShapeError, count > 1,
              "batch_norm: training needs more than one value per channel, got input {}",
              to_string(x.shape()));
  for (int64_t ch = 0; ch < c; ++ch) sums[static_cast<size_t>(ch)] /= count;
  std::vector<double> squares(static_cast<size_t>(c));
  kernels::batch_norm_sum(n, c, inner, x.data(), sums.data(), squares.data());
  total(part, squares);
  for (int64_t ch = 0; ch < c; ++ch) {
    mean.data()[ch] = static_cast<float>(sums[static_cast<size_t>(ch)]);
    var.data()[ch] = static_cast<float>(squares[static_cast<size_t>(ch)] / count);
  }
  return count;
}

}  // namespace

// ---- batch norm ----

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, float momentum,
                  float eps, BatchPart part) {
  check_defined(x, "batch_norm");
  BP_CHECK_AS(ShapeError, x.dim() >= 2,
              "batch_norm: input must be (N, C) or (N, C, spatial...), got {}",
              to_string(x.shape()));
  BP_CHECK(std::isfinite(eps) && eps > 0, "batch_norm: eps must be positive, got {}", eps);
  BP_CHECK(momentum >= 0 && momentum <= 1, "batch_norm: momentum must be in [0, 1], got {}",
           momentum);
  const int64_t n = x.size(0), c = x.size(1), inner = extent(x.shape(), 2, x.shape().size());
  const Shape channels{c};
  check_optional(weight, channels, "batch_norm", "weight");
  check_optional(bias, channels, "batch_norm", "bias");
  check_optional(running_mean, channels, "batch_norm", "running_mean");
  check_optional(running_var, channels, "batch_norm", "running_var");
  BP_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must be given together");
  BP_CHECK(training || running_mean.defined(),
           "batch_norm: evaluation mode needs running_mean and running_var");

  Tensor mean = make_tensor(channels), var = make_tensor(channels), y = make_tensor(x.shape());
  double count = 0;  // the batch's values per channel (training)
  if (training) {
    count = batch_statistics(x, part, mean, var);
    if (running_mean.defined() && part.index == 0)  // once per batch
      update_running(running_mean, running_var, mean, var, momentum, count);
  } else {
    mean.copy_(running_mean);
    var.copy_(running_var);
  }
  kernels::batch_norm_forward(n, c, inner, x.data(), mean.data(), var.data(), data_or_null(weight),
                              data_or_null(bias), eps, y.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;
  Tensor x_saved = x.detach(), w_saved = weight.defined() ? weight.detach() : Tensor();
  const bool want_x = x.requires_grad(), want_w = weight.defined() && weight.requires_grad(),
             want_b = bias.defined() && bias.requires_grad();
  // gβ = Σdy, gγ = Σdy·x̂ over this part's values; gx from the batch's sums (kernels/norm.hpp)
  return record(OpKind::batch_norm, y, {x, weight, bias}, {x_saved, w_saved},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  std::vector<double> sums(2 * static_cast<size_t>(c));
                  kernels::batch_norm_grad_sums(n, c, inner, x_saved.data(), mean.data(),
                                                var.data(), eps, gy.data(), sums.data());
                  std::vector<Tensor> grads(3);
                  if (want_w) grads[1] = from_sums({sums.data() + c, sums.data() + 2 * c});
                  if (want_b) grads[2] = from_sums({sums.data(), sums.data() + c});
                  if (training) total(part, sums);  // every part, to stay in step
                  if (want_x) {
                    grads[0] = make_tensor(x_saved.shape());
                    kernels::batch_norm_backward(
                        n, c, inner, x_saved.data(), mean.data(), var.data(), data_or_null(w_saved),
                        eps, gy.data(), training ? sums.data() : nullptr, count, grads[0].data());
                  }
                  return grads;
                });
}

// ---- layer norm ----

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, float eps) {
  check_defined(x, "layer_norm");
  BP_CHECK_AS(ShapeError, !normalized_shape.empty(),
              "layer_norm: normalized_shape must not be empty");
  BP_CHECK(std::isfinite(eps) && eps > 0, "layer_norm: eps must be positive, got {}", eps);
  const size_t k = normalized_shape.size();
  const Shape& s = x.shape();
  BP_CHECK_AS(
      ShapeError,
      s.size() >= k && Shape(s.end() - static_cast<std::ptrdiff_t>(k), s.end()) == normalized_shape,
      "layer_norm: input shape {} does not end with normalized_shape {}", to_string(s),
      to_string(normalized_shape));
  check_optional(weight, normalized_shape, "layer_norm", "weight");
  check_optional(bias, normalized_shape, "layer_norm", "bias");
  const int64_t cols = numel(normalized_shape), rows = extent(s, 0, s.size() - k);

  Tensor y = make_tensor(s);
  Tensor mean = make_tensor({rows}), rstd = make_tensor({rows});
  if (cols > 0)
    kernels::layer_norm_forward(rows, cols, x.data(), data_or_null(weight), data_or_null(bias), eps,
                                y.data(), mean.data(), rstd.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;
  Tensor x_saved = x.detach(), w_saved = weight.defined() ? weight.detach() : Tensor();
  const bool want_x = x.requires_grad(), want_w = weight.defined() && weight.requires_grad(),
             want_b = bias.defined() && bias.requires_grad();
  return record(OpKind::layer_norm, y, {x, weight, bias}, {x_saved, w_saved},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  std::vector<Tensor> grads(3);
                  // The kernel overwrites all three (cols = 0 leaves them empty).
                  if (want_x) grads[0] = make_tensor(x_saved.shape());
                  if (want_w) grads[1] = make_tensor(normalized_shape);
                  if (want_b) grads[2] = make_tensor(normalized_shape);
                  if (cols > 0)
                    kernels::layer_norm_backward(
                        rows, cols, x_saved.data(), mean.data(), rstd.data(), data_or_null(w_saved),
                        gy.data(), want_x ? grads[0].data() : nullptr,
                        want_w ? grads[1].data() : nullptr, want_b ? grads[2].data() : nullptr);
                  return grads;
                });
}

// ---- dropout ----

Tensor dropout(const Tensor& x, float p, bool training, uint64_t key, int64_t first_row) {
  check_defined(x, "dropout");
  BP_CHECK_AS(ValueError, p >= 0 && p < 1, "dropout: p must be in [0, 1), got {}", p);
  BP_CHECK(first_row >= 0, "dropout: first_row must be >= 0, got {}", first_row);
  if (!training || p == 0) return x;
  const int64_t row = x.dim() > 0 && x.size(0) > 0 ? x.numel() / x.size(0) : 0;
  Tensor mask = make_tensor(x.shape()), y = make_tensor(x.shape());
  kernels::dropout_forward(p, key, first_row * row, x.data(), y.data(), mask.data(), x.numel());
  if (!autograd::any_requires_grad({x})) return y;
  // gx = gy · mask (mask already holds the 1/(1 - p) scale)
  return record(OpKind::dropout, y, {x}, [mask](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = make_tensor(mask.shape());
    const float *g = gy.data(), *m = mask.data();
    float* out = gx.data();
    for (int64_t i = 0; i < gx.numel(); ++i) out[i] = g[i] * m[i];
    return {gx};
  });
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_defined(x, "dropout");
  BP_CHECK_AS(ValueError, p >= 0 && p < 1, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0) return x;
  return dropout(x, p, training, gen.next_u64());
}

// ---- embedding ----

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  check_defined(indices, "embedding", "indices");
  check_defined(weight, "embedding", "weight");
  BP_CHECK_AS(ShapeError, weight.dim() == 2, "embedding: weight must be 2-D (num, dim), got {}",
              to_string(weight.shape()));
  const int64_t num = weight.size(0), dim = weight.size(1), count = indices.numel();
  std::vector<int64_t> index(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const float v = indices.data()[i];
    BP_CHECK(std::isfinite(v) && v == std::floor(v),
             "embedding: index {} at position {} is not an integer", v, i);
    BP_CHECK(v >= 0 && v < static_cast<float>(num),
             "embedding: index {} at position {} is out of range [0, {})", v, i, num);
    index[static_cast<size_t>(i)] = static_cast<int64_t>(v);
  }
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor y = make_tensor(out_shape);
  kernels::embedding_forward(count, dim, index.data(), weight.data(), y.data());
  if (!autograd::any_requires_grad({weight})) return y;
  const Shape weight_shape = weight.shape();
  // gW[index[i]] += gy[i] (the indices themselves get no gradient)
  return record(OpKind::embedding, y, {weight}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gw = Tensor::zeros(weight_shape);
    kernels::embedding_backward(count, dim, index.data(), gy.data(), gw.data());
    return {gw};
  });
}

}  // namespace bp

#include <algorithm>
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/ops.hpp"
#include "backprop/optim.hpp"

namespace bp::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  BP_CHECK_AS(ValueError, max_norm >= 0 && !std::isnan(max_norm),
              "clip_grad_norm: max_norm must be >= 0 (got {})", max_norm);
  BP_CHECK_AS(ValueError, norm_type > 0 && !std::isnan(norm_type),
              "clip_grad_norm: norm_type must be positive (got {})", norm_type);
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  // Accumulated in double, so that millions of small squares do not lose their tail.
  double total = 0;
  const bool inf_norm = std::isinf(norm_type);
  for (const Tensor& g : grads)
    for (float v : g.values()) {
      const double a = std::fabs(static_cast<double>(v));
      if (inf_norm)
        total = std::max(total, a);
      else if (norm_type == 2.0)
        total += a * a;
      else
        total += std::pow(a, norm_type);
    }
  if (!inf_norm) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    const auto c = static_cast<float>(coef);
    for (Tensor& g : grads)
      for (float& v : g.values()) v *= c;
  }
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  BP_CHECK_AS(ValueError, clip_value >= 0 && !std::isnan(clip_value),
              "clip_grad_value: clip_value must be >= 0 (got {})", clip_value);
  const auto c = static_cast<float>(clip_value);
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (!g.defined()) continue;
    for (float& v : g.values()) v = std::clamp(v, -c, c);
  }
}

namespace {
Tensor penalty(const std::vector<Tensor>& params, bool squared) {
  Tensor total;
  for (const Tensor& p : params) {
    BP_CHECK_AS(ValueError, p.defined(), "{}_penalty: undefined parameter", squared ? "l2" : "l1");
    Tensor term = squared ? sum(square(p)) : sum(abs(p));
    total = total.defined() ? total + term : term;
  }
  return total.defined() ? total : Tensor::scalar(0.0f);
}
}  // namespace

Tensor l1_penalty(const std::vector<Tensor>& params) {
  return penalty(params, false);
}
Tensor l2_penalty(const std::vector<Tensor>& params) {
  return penalty(params, true);
}

}  // namespace bp::optim

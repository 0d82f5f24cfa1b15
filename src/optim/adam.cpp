#include <algorithm>
#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

namespace {
std::vector<std::string> adam_buffers(const AdamOptions& o) {
  std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  if (o.amsgrad) names.emplace_back("max_exp_avg_sq");
  return names;
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}}, options,
           false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Adam(std::move(groups), options, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled)
    : Optimizer(std::move(groups)),
      options_(options),
      decoupled_(decoupled),
      state_(decoupled ? "AdamW" : "Adam", adam_buffers(options), detail::count_params(groups_)) {
  const char* who = decoupled ? "AdamW" : "Adam";
  detail::check_unit(who, "beta1", options.beta1);
  detail::check_unit(who, "beta2", options.beta2);
  detail::check_finite_at_least(who, "eps", options.eps, 0);
}

void Adam::step() {
  const char* who = decoupled_ ? "AdamW" : "Adam";
  const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
  const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
  const auto one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(beta2));
  const bool amsgrad = options_.amsgrad;
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = detail::checked_grad(who, p);
      if (!grad.defined()) continue;
      if (!state_.started(index)) {
        state_.buffer(index, 0) = Tensor::zeros(p.shape());
        state_.buffer(index, 1) = Tensor::zeros(p.shape());
        if (amsgrad) state_.buffer(index, 2) = Tensor::zeros(p.shape());
      }
      const auto t = static_cast<double>(++state_.step(index));
      const auto lr = static_cast<double>(group.lr);
      // Scalars in double, as PyTorch computes them in Python.
      const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), t);
      const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), t);
      const auto step_size = static_cast<float>(lr / bias_correction1);
      const auto bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
      const float decay = group.weight_decay;
      float* __restrict w = p.data();
      const float* __restrict g = grad.data();
      float* __restrict m = state_.buffer(index, 0).data();
      float* __restrict v = state_.buffer(index, 1).data();
      float* __restrict vmax = amsgrad ? state_.buffer(index, 2).data() : nullptr;
      const int64_t n = p.numel();
      if (decoupled_) {
        // w ← w·(1 − lr·λ), then Adam with the raw gradient.
        const auto shrink = static_cast<float>(1.0 - lr * static_cast<double>(decay));
        for (int64_t i = 0; i < n; ++i) w[i] *= shrink;
      }
      const float l2 = decoupled_ ? 0.0f : decay;
      for (int64_t i = 0; i < n; ++i) {
        const float gi = l2 != 0 ? g[i] + l2 * w[i] : g[i];
        m[i] = m[i] * beta1 + one_minus_beta1 * gi;
        v[i] = v[i] * beta2 + one_minus_beta2 * gi * gi;
        float second = v[i];
        if (amsgrad) second = vmax[i] = std::max(vmax[i], v[i]);
        const float denom = std::sqrt(second) / bc2_sqrt + eps;
        w[i] += -step_size * (m[i] / denom);
      }
    }
  }
}

void Adam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}},
            options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Adam(std::move(groups), options, true) {}

}  // namespace bp::optim

#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

NAdam::NAdam(std::vector<Tensor> params, NAdamOptions options)
    : NAdam(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}},
            options) {}

NAdam::NAdam(std::vector<ParamGroup> groups, NAdamOptions options)
    : Optimizer(std::move(groups)),
      options_(options),
      state_("NAdam", {"exp_avg", "exp_avg_sq", "mu_product"}, detail::count_params(groups_)) {
  detail::check_unit("NAdam", "beta1", options.beta1);
  detail::check_unit("NAdam", "beta2", options.beta2);
  detail::check_finite_at_least("NAdam", "eps", options.eps, 0);
  detail::check_finite_at_least("NAdam", "momentum_decay", options.momentum_decay, 0);
}

void NAdam::step() {
  const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
  const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
  const auto one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(beta2));
  const auto psi = static_cast<double>(options_.momentum_decay);
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = detail::checked_grad("NAdam", p);
      if (!grad.defined()) continue;
      if (!state_.started(index)) {
        state_.buffer(index, 0) = Tensor::zeros(p.shape());
        state_.buffer(index, 1) = Tensor::zeros(p.shape());
        state_.buffer(index, 2) = Tensor::ones({1});
      }
      const auto t = static_cast<double>(++state_.step(index));
      const auto lr = static_cast<double>(group.lr);
      const auto bias_correction2 =
          static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), t));
      // The momentum cache μₜ, μₜ₊₁ and their running product, which PyTorch keeps in float32.
      const double mu = static_cast<double>(beta1) * (1.0 - 0.5 * std::pow(0.96, t * psi));
      const double mu_next =
          static_cast<double>(beta1) * (1.0 - 0.5 * std::pow(0.96, (t + 1) * psi));
      float& mu_product = state_.buffer(index, 2).data()[0];
      mu_product *= static_cast<float>(mu);
      const float mu_product_next =
          mu_product * static_cast<float>(mu) * static_cast<float>(mu_next);  // 1.13's formula
      const auto grad_coef =
          static_cast<float>(-lr * (1.0 - mu) / (1.0 - static_cast<double>(mu_product)));
      const auto avg_coef =
          static_cast<float>(-lr * mu_next / (1.0 - static_cast<double>(mu_product_next)));
      const float decay = group.weight_decay;
      float* __restrict w = p.data();
      const float* __restrict g = grad.data();
      float* __restrict m = state_.buffer(index, 0).data();
      float* __restrict v = state_.buffer(index, 1).data();
      const int64_t n = p.numel();
      for (int64_t i = 0; i < n; ++i) {
        const float gi = decay != 0 ? g[i] + decay * w[i] : g[i];
        m[i] = m[i] * beta1 + one_minus_beta1 * gi;
        v[i] = v[i] * beta2 + one_minus_beta2 * gi * gi;
        const float denom = std::sqrt(v[i] / bias_correction2) + eps;
        w[i] += grad_coef * (gi / denom);
        w[i] += avg_coef * (m[i] / denom);
      }
    }
  }
}

void NAdam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

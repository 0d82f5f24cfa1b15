#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

namespace {
// ElementUpdate::scalars of NAdam; state: exp_avg, exp_avg_sq.
enum : size_t { kGradCoef, kAvgCoef, kBiasCorrection2, kDecay };
}  // namespace

NAdam::NAdam(std::vector<Tensor> params, NAdamOptions options)
    : NAdam(detail::one_group(std::move(params), options), options) {}

NAdam::NAdam(std::vector<ParamGroup> groups, NAdamOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_("NAdam", {"exp_avg", "exp_avg_sq", "mu_product"}, detail::count_params(groups_)) {
  detail::check_unit("NAdam", "beta1", options.beta1);
  detail::check_unit("NAdam", "beta2", options.beta2);
  detail::check_positive("NAdam", "eps", options.eps);
  detail::check_finite_at_least("NAdam", "momentum_decay", options.momentum_decay, 0);
}

void NAdam::prepare(std::vector<ElementUpdate>& updates) {
  const auto beta1 = static_cast<double>(options_.beta1);
  const auto beta2 = static_cast<double>(options_.beta2);
  const auto psi = static_cast<double>(options_.momentum_decay);
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    if (!state_.started(k)) state_.buffer(k, 2) = Tensor::ones({1});  // mu_product
    const auto t = static_cast<double>(state_.advance(k, p.shape()));
    // exp_avg and exp_avg_sq; mu_product is per parameter, not per element, so it moves here.
    ElementUpdate& u = updates.emplace_back(detail::element_update(k, p, grad, state_, 2));
    const auto lr = static_cast<double>(group.lr);
    // The momentum cache μₜ, μₜ₊₁ and their running product, which PyTorch keeps in float32.
    const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, t * psi));
    const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1) * psi));
    float& mu_product = state_.buffer(k, 2).data()[0];
    mu_product *= static_cast<float>(mu);
    const float mu_product_next =
        mu_product * static_cast<float>(mu) * static_cast<float>(mu_next);  // 1.13's formula
    u.scalars[kGradCoef] =
        static_cast<float>(-lr * (1.0 - mu) / (1.0 - static_cast<double>(mu_product)));
    u.scalars[kAvgCoef] =
        static_cast<float>(-lr * mu_next / (1.0 - static_cast<double>(mu_product_next)));
    u.scalars[kBiasCorrection2] = static_cast<float>(1.0 - std::pow(beta2, t));
    u.scalars[kDecay] = group.weight_decay;
  });
}

void NAdam::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  detail::with_flag(u.scalars[kDecay] != 0, [&](auto l2) {
    const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
    const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
    const auto one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(beta2));
    const float grad_coef = u.scalars[kGradCoef], avg_coef = u.scalars[kAvgCoef];
    const float bias_correction2 = u.scalars[kBiasCorrection2], decay = u.scalars[kDecay];
    float* __restrict w = u.weight;
    const float* __restrict g = u.grad;
    float* __restrict m = u.state[0];
    float* __restrict v = u.state[1];
    for (int64_t i = begin; i < end; ++i) {
      float gi = g[i];
      if constexpr (l2) gi += decay * w[i];
      m[i] = m[i] * beta1 + one_minus_beta1 * gi;
      v[i] = v[i] * beta2 + one_minus_beta2 * gi * gi;
      const float denom = std::sqrt(v[i] / bias_correction2) + eps;
      w[i] += grad_coef * (gi / denom);
      w[i] += avg_coef * (m[i] / denom);
    }
  });
}

void NAdam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

#include <algorithm>
#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

Adamax::Adamax(std::vector<Tensor> params, AdamaxOptions options)
    : Adamax(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}},
             options) {}

Adamax::Adamax(std::vector<ParamGroup> groups, AdamaxOptions options)
    : Optimizer(std::move(groups)),
      options_(options),
      state_("Adamax", {"exp_avg", "exp_inf"}, detail::count_params(groups_)) {
  detail::check_unit("Adamax", "beta1", options.beta1);
  detail::check_unit("Adamax", "beta2", options.beta2);
  detail::check_finite_at_least("Adamax", "eps", options.eps, 0);
}

void Adamax::step() {
  const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
  const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = detail::checked_grad("Adamax", p);
      if (!grad.defined()) continue;
      if (!state_.started(index)) {
        state_.buffer(index, 0) = Tensor::zeros(p.shape());
        state_.buffer(index, 1) = Tensor::zeros(p.shape());
      }
      const auto t = static_cast<double>(++state_.step(index));
      const auto clr = static_cast<float>(static_cast<double>(group.lr) /
                                          (1.0 - std::pow(static_cast<double>(beta1), t)));
      const float decay = group.weight_decay;
      float* __restrict w = p.data();
      const float* __restrict g = grad.data();
      float* __restrict m = state_.buffer(index, 0).data();
      float* __restrict u = state_.buffer(index, 1).data();
      const int64_t n = p.numel();
      for (int64_t i = 0; i < n; ++i) {
        const float gi = decay != 0 ? g[i] + decay * w[i] : g[i];
        m[i] = m[i] * beta1 + one_minus_beta1 * gi;
        u[i] = std::max(u[i] * beta2, std::fabs(gi) + eps);  // the decayed infinity norm
        w[i] += -clr * (m[i] / u[i]);
      }
    }
  }
}

void Adamax::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

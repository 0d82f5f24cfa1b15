#include <algorithm>
#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

namespace {
// ElementUpdate::scalars of Adamax; state: exp_avg, exp_inf.
enum : size_t { kClr, kDecay };
}  // namespace

Adamax::Adamax(std::vector<Tensor> params, AdamaxOptions options)
    : Adamax(detail::one_group(std::move(params), options), options) {}

Adamax::Adamax(std::vector<ParamGroup> groups, AdamaxOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_("Adamax", {"exp_avg", "exp_inf"}, detail::count_params(groups_)) {
  detail::check_unit("Adamax", "beta1", options.beta1);
  detail::check_unit("Adamax", "beta2", options.beta2);
  detail::check_positive("Adamax", "eps", options.eps);
}

void Adamax::prepare(std::vector<ElementUpdate>& updates) {
  const auto beta1 = static_cast<double>(options_.beta1);
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    const auto t = static_cast<double>(state_.advance(k, p.shape()));
    ElementUpdate& u = updates.emplace_back(detail::element_update(k, p, grad, state_, 2));
    u.scalars[kClr] =
        static_cast<float>(static_cast<double>(group.lr) / (1.0 - std::pow(beta1, t)));
    u.scalars[kDecay] = group.weight_decay;
  });
}

void Adamax::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  detail::with_flag(u.scalars[kDecay] != 0, [&](auto l2) {
    const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
    const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
    const float clr = u.scalars[kClr], decay = u.scalars[kDecay];
    float* __restrict w = u.weight;
    const float* __restrict g = u.grad;
    float* __restrict m = u.state[0];
    float* __restrict inf_norm = u.state[1];
    for (int64_t i = begin; i < end; ++i) {
      float gi = g[i];
      if constexpr (l2) gi += decay * w[i];
      m[i] = m[i] * beta1 + one_minus_beta1 * gi;
      inf_norm[i] = std::max(inf_norm[i] * beta2, std::fabs(gi) + eps);  // the decayed ∞-norm
      w[i] += -clr * (m[i] / inf_norm[i]);
    }
  });
}

void Adamax::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

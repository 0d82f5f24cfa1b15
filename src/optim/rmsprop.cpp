#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

namespace {
std::vector<std::string> rmsprop_buffers(const RMSpropOptions& o) {
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0) names.emplace_back("momentum_buffer");
  if (o.centered) names.emplace_back("grad_avg");
  return names;
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}},
              options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options)
    : Optimizer(std::move(groups)),
      options_(options),
      state_("RMSprop", rmsprop_buffers(options), detail::count_params(groups_)) {
  BP_CHECK(std::isfinite(options.alpha) && options.alpha >= 0 && options.alpha <= 1,
           "RMSprop: alpha must be in [0, 1] (got {})", options.alpha);
  detail::check_finite_at_least("RMSprop", "eps", options.eps, 0);
  detail::check_unit("RMSprop", "momentum", options.momentum);
}

void RMSprop::step() {
  const bool momentum = options_.momentum > 0, centered = options_.centered;
  const size_t grad_avg_slot = momentum ? 2 : 1;
  const float alpha = options_.alpha, eps = options_.eps, mu = options_.momentum;
  const auto one_minus_alpha = static_cast<float>(1.0 - static_cast<double>(alpha));
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = detail::checked_grad("RMSprop", p);
      if (!grad.defined()) continue;
      if (!state_.started(index)) {
        state_.buffer(index, 0) = Tensor::zeros(p.shape());
        if (momentum) state_.buffer(index, 1) = Tensor::zeros(p.shape());
        if (centered) state_.buffer(index, grad_avg_slot) = Tensor::zeros(p.shape());
      }
      ++state_.step(index);
      const float lr = group.lr, decay = group.weight_decay;
      float* __restrict w = p.data();
      const float* __restrict g = grad.data();
      float* __restrict v = state_.buffer(index, 0).data();
      float* __restrict b = momentum ? state_.buffer(index, 1).data() : nullptr;
      float* __restrict ga = centered ? state_.buffer(index, grad_avg_slot).data() : nullptr;
      const int64_t n = p.numel();
      for (int64_t i = 0; i < n; ++i) {
        const float gi = decay != 0 ? g[i] + decay * w[i] : g[i];
        v[i] = v[i] * alpha + one_minus_alpha * gi * gi;
        float avg;
        if (centered) {
          ga[i] = ga[i] * alpha + one_minus_alpha * gi;
          avg = std::sqrt(v[i] - ga[i] * ga[i]) + eps;
        } else {
          avg = std::sqrt(v[i]) + eps;
        }
        if (momentum) {
          b[i] = b[i] * mu + gi / avg;
          w[i] += -lr * b[i];
        } else {
          w[i] += -lr * (gi / avg);
        }
      }
    }
  }
}

void RMSprop::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

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

// ElementUpdate::scalars of RMSprop; state as rmsprop_buffers.
enum : size_t { kLr, kDecay };
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(detail::one_group(std::move(params), options), options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_("RMSprop", rmsprop_buffers(options), detail::count_params(groups_)) {
  BP_CHECK(std::isfinite(options.alpha) && options.alpha >= 0 && options.alpha <= 1,
           "RMSprop: alpha must be in [0, 1] (got {})", options.alpha);
  detail::check_positive("RMSprop", "eps", options.eps);
  detail::check_unit("RMSprop", "momentum", options.momentum);
}

void RMSprop::prepare(std::vector<ElementUpdate>& updates) {
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    state_.advance(k, p.shape());
    ElementUpdate& u =
        updates.emplace_back(detail::element_update(k, p, grad, state_, state_.buffers()));
    u.scalars[kLr] = group.lr;
    u.scalars[kDecay] = group.weight_decay;
  });
}

void RMSprop::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const bool with_momentum = options_.momentum > 0;
  detail::with_flag(u.scalars[kDecay] != 0, [&](auto l2) {
    detail::with_flag(options_.centered, [&](auto centered) {
      detail::with_flag(with_momentum, [&](auto momentum) {
        const float alpha = options_.alpha, eps = options_.eps, mu = options_.momentum;
        const auto one_minus_alpha = static_cast<float>(1.0 - static_cast<double>(alpha));
        const float lr = u.scalars[kLr], decay = u.scalars[kDecay];
        float* __restrict w = u.weight;
        const float* __restrict g = u.grad;
        float* __restrict v = u.state[0];
        float* __restrict b = u.state[1];                  // with momentum
        float* __restrict ga = u.state[momentum ? 2 : 1];  // centered
        for (int64_t i = begin; i < end; ++i) {
          float gi = g[i];
          if constexpr (l2) gi += decay * w[i];
          v[i] = v[i] * alpha + one_minus_alpha * gi * gi;
          float avg;
          if constexpr (centered) {
            ga[i] = ga[i] * alpha + one_minus_alpha * gi;
            avg = std::sqrt(v[i] - ga[i] * ga[i]) + eps;
          } else {
            avg = std::sqrt(v[i]) + eps;
          }
          if constexpr (momentum) {
            b[i] = b[i] * mu + gi / avg;
            w[i] += -lr * b[i];
          } else {
            w[i] += -lr * (gi / avg);
          }
        }
      });
    });
  });
}

void RMSprop::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

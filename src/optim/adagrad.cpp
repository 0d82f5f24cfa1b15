#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

namespace {
// ElementUpdate::scalars of Adagrad; state: sum.
enum : size_t { kClr, kDecay };
}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(detail::one_group(std::move(params), options), options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_("Adagrad", {"sum"}, detail::count_params(groups_)) {
  detail::check_finite_at_least("Adagrad", "lr_decay", options.lr_decay, 0);
  detail::check_finite_at_least("Adagrad", "initial_accumulator_value",
                                options.initial_accumulator_value, 0);
  detail::check_positive("Adagrad", "eps", options.eps);
}

void Adagrad::prepare(std::vector<ElementUpdate>& updates) {
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    const int64_t t = state_.advance(k, p.shape(), options_.initial_accumulator_value);
    ElementUpdate& u = updates.emplace_back(detail::element_update(k, p, grad, state_, 1));
    // clr = lr / (1 + (t − 1)·lr_decay), in double as PyTorch computes it.
    u.scalars[kClr] = static_cast<float>(
        static_cast<double>(group.lr) /
        (1.0 + static_cast<double>(t - 1) * static_cast<double>(options_.lr_decay)));
    u.scalars[kDecay] = group.weight_decay;
  });
}

void Adagrad::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  detail::with_flag(u.scalars[kDecay] != 0, [&](auto l2) {
    const float clr = u.scalars[kClr], decay = u.scalars[kDecay], eps = options_.eps;
    float* __restrict w = u.weight;
    float* __restrict s = u.state[0];
    const float* __restrict g = u.grad;
    for (int64_t i = begin; i < end; ++i) {
      float gi = g[i];
      if constexpr (l2) gi += decay * w[i];
      s[i] += gi * gi;
      w[i] += -clr * (gi / (std::sqrt(s[i]) + eps));
    }
  });
}

void Adagrad::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

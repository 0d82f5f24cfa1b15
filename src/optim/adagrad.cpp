#include <cmath>

#include "optim/common.hpp"

namespace bp::optim {

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(std::vector<ParamGroup>{{std::move(params), options.lr, options.weight_decay}},
              options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer(std::move(groups)),
      options_(options),
      state_("Adagrad", {"sum"}, detail::count_params(groups_)) {
  detail::check_finite_at_least("Adagrad", "lr_decay", options.lr_decay, 0);
  detail::check_finite_at_least("Adagrad", "initial_accumulator_value",
                                options.initial_accumulator_value, 0);
  detail::check_finite_at_least("Adagrad", "eps", options.eps, 0);
}

void Adagrad::step() {
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = detail::checked_grad("Adagrad", p);
      if (!grad.defined()) continue;
      Tensor& sum = state_.buffer(index, 0);
      if (!sum.defined()) sum = Tensor::full(p.shape(), options_.initial_accumulator_value);
      const int64_t t = ++state_.step(index);
      // clr = lr / (1 + (t − 1)·lr_decay), in double as PyTorch computes it.
      const auto clr = static_cast<float>(
          static_cast<double>(group.lr) /
          (1.0 + static_cast<double>(t - 1) * static_cast<double>(options_.lr_decay)));
      const float decay = group.weight_decay, eps = options_.eps;
      float* __restrict w = p.data();
      float* __restrict s = sum.data();
      const float* __restrict g = grad.data();
      const int64_t n = p.numel();
      for (int64_t i = 0; i < n; ++i) {
        const float gi = decay != 0 ? g[i] + decay * w[i] : g[i];
        s[i] += gi * gi;
        w[i] += -clr * (gi / (std::sqrt(s[i]) + eps));
      }
    }
  }
}

void Adagrad::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

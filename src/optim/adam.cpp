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

// ElementUpdate::scalars of Adam and AdamW; state: exp_avg, exp_avg_sq [, max_exp_avg_sq].
enum : size_t { kStepSize, kBc2Sqrt, kDecay, kShrink };
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(detail::one_group(std::move(params), options), options, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Adam(std::move(groups), options, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      decoupled_(decoupled),
      state_(decoupled ? "AdamW" : "Adam", adam_buffers(options), detail::count_params(groups_)) {
  const char* who = decoupled ? "AdamW" : "Adam";
  detail::check_unit(who, "beta1", options.beta1);
  detail::check_unit(who, "beta2", options.beta2);
  detail::check_positive(who, "eps", options.eps);
}

void Adam::prepare(std::vector<ElementUpdate>& updates) {
  const auto beta1 = static_cast<double>(options_.beta1);
  const auto beta2 = static_cast<double>(options_.beta2);
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    const auto t = static_cast<double>(state_.advance(k, p.shape()));
    ElementUpdate& u =
        updates.emplace_back(detail::element_update(k, p, grad, state_, state_.buffers()));
    const auto lr = static_cast<double>(group.lr);
    // Scalars in double, as PyTorch computes them in Python.
    const double bias_correction1 = 1.0 - std::pow(beta1, t);
    const double bias_correction2 = 1.0 - std::pow(beta2, t);
    u.scalars[kStepSize] = static_cast<float>(lr / bias_correction1);
    u.scalars[kBc2Sqrt] = static_cast<float>(std::sqrt(bias_correction2));
    u.scalars[kDecay] = group.weight_decay;
    // AdamW: w ← w·(1 − lr·λ), then Adam with the raw gradient.
    u.scalars[kShrink] = static_cast<float>(1.0 - lr * static_cast<double>(group.weight_decay));
  });
}

void Adam::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const bool l2 = !decoupled_ && u.scalars[kDecay] != 0;
  detail::with_flag(decoupled_, [&](auto decoupled) {
    detail::with_flag(l2, [&](auto with_l2) {
      detail::with_flag(options_.amsgrad, [&](auto amsgrad) {
        const float beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
        const auto one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(beta1));
        const auto one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(beta2));
        const float step_size = u.scalars[kStepSize], bc2_sqrt = u.scalars[kBc2Sqrt];
        const float decay = u.scalars[kDecay], shrink = u.scalars[kShrink];
        float* __restrict w = u.weight;
        const float* __restrict g = u.grad;
        float* __restrict m = u.state[0];
        float* __restrict v = u.state[1];
        float* __restrict vmax = u.state[2];
        for (int64_t i = begin; i < end; ++i) {
          float wi = w[i];
          if constexpr (decoupled) wi *= shrink;
          float gi = g[i];
          if constexpr (with_l2) gi += decay * wi;
          m[i] = m[i] * beta1 + one_minus_beta1 * gi;
          v[i] = v[i] * beta2 + one_minus_beta2 * gi * gi;
          float second = v[i];
          if constexpr (amsgrad) second = vmax[i] = std::max(vmax[i], v[i]);
          const float denom = std::sqrt(second) / bc2_sqrt + eps;
          w[i] = wi + -step_size * (m[i] / denom);
        }
      });
    });
  });
}

void Adam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_.load(state, detail::flat_params(groups_));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(detail::one_group(std::move(params), options), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Adam(std::move(groups), options, true) {}

}  // namespace bp::optim

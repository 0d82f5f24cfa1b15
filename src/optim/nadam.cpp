#include <cmath>

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's NAdam step, as PyTorch 1.13 computes it: m and v as Adam, d = √(v/(1−β₂ᵗ)) + eps,
//   w ← w − lr·(1−μₜ)/(1−Πₜ) · g/d − lr·μₜ₊₁/(1 − Πₜ·μₜ·μₜ₊₁) · m/d.
struct NAdamStep {
  detail::Moments moments;
  float eps;
  float grad_coef;         // −lr·(1−μₜ)/(1−Πₜ)
  float avg_coef;          // −lr·μₜ₊₁/(1 − Πₜ·μₜ·μₜ₊₁)
  float bias_correction2;  // 1−β₂ᵗ
  float decay;             // λ (L2)

  template <bool kL2>
  void update(int64_t i, float* w, const float* g, float* m, float* v, float*) const {
    float gi = g[i];
    if constexpr (kL2) gi += decay * w[i];
    m[i] = moments.first(m[i], gi);
    v[i] = moments.second(v[i], gi);
    const float denom = std::sqrt(v[i] / bias_correction2) + eps;
    w[i] += grad_coef * (gi / denom);
    w[i] += avg_coef * (m[i] / denom);
  }
};
}  // namespace

// mu_product, Πₜ, is one value per parameter: begin_step() moves it, the element loop never sees
// it.
struct NAdam::State : detail::CountedState<NAdamStep> {
  explicit State(size_t params)
      : CountedState("NAdam",
                     {{"exp_avg"}, {"exp_avg_sq"}, {"mu_product", 1.0f, /*per_element=*/false}},
                     params) {}
};

NAdam::NAdam(std::vector<Tensor> params, NAdamOptions options)
    : NAdam(detail::one_group(std::move(params), options), options) {}

NAdam::NAdam(std::vector<ParamGroup> groups, NAdamOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_(std::make_unique<State>(detail::count_params(groups_))) {
  detail::check_unit("NAdam", "beta1", options.beta1);
  detail::check_unit("NAdam", "beta2", options.beta2);
  detail::check_positive("NAdam", "eps", options.eps);
  detail::check_finite_at_least("NAdam", "momentum_decay", options.momentum_decay, 0);
}

NAdam::~NAdam() = default;

void NAdam::prepare(std::vector<ElementUpdate>& updates) {
  const auto moments = detail::Moments::of(options_.beta1, options_.beta2);
  const auto beta1 = static_cast<double>(options_.beta1);
  const auto beta2 = static_cast<double>(options_.beta2);
  const auto psi = static_cast<double>(options_.momentum_decay);
  state_->begin(groups_, updates, [&](const ParamGroup& group, int64_t step, size_t k) {
    const auto t = static_cast<double>(step), lr = static_cast<double>(group.lr);
    // The momentum cache μₜ, μₜ₊₁ and their running product, which PyTorch keeps in float32.
    const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, t * psi));
    const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1) * psi));
    float& mu_product = state_->buffers.buffer(k, 2).data()[0];
    mu_product *= static_cast<float>(mu);
    const float mu_product_next =
        mu_product * static_cast<float>(mu) * static_cast<float>(mu_next);  // 1.13's formula
    return NAdamStep{
        .moments = moments,
        .eps = options_.eps,
        .grad_coef = static_cast<float>(-lr * (1.0 - mu) / (1.0 - static_cast<double>(mu_product))),
        .avg_coef =
            static_cast<float>(-lr * mu_next / (1.0 - static_cast<double>(mu_product_next))),
        .bias_correction2 = static_cast<float>(1.0 - std::pow(beta2, t)),
        .decay = group.weight_decay};
  });
}

void NAdam::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const NAdamStep& step = state_->steps[u.index];
  detail::update_elements(step, u, begin, end, step.decay != 0);
}

std::vector<std::pair<std::string, Tensor>> NAdam::state() const {
  return state_->buffers.save();
}

void NAdam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_->buffers.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

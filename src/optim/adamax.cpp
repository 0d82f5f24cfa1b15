#include <algorithm>
#include <cmath>

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's Adamax step: m ← β₁·m + (1−β₁)·g, u ← max(β₂·u, |g| + eps) (the decayed
// ∞-norm), w ← w − lr/(1−β₁ᵗ) · m/u.
struct AdamaxStep {
  detail::Moments moments;  // m's; u decays by β₂
  float eps;
  float clr;    // lr/(1−β₁ᵗ)
  float decay;  // λ (L2)

  template <bool kL2>
  void update(int64_t i, float* w, const float* g, float* m, float* inf_norm, float*) const {
    float gi = g[i];
    if constexpr (kL2) gi += decay * w[i];
    m[i] = moments.first(m[i], gi);
    inf_norm[i] = std::max(inf_norm[i] * moments.beta2, std::fabs(gi) + eps);
    w[i] += -clr * (m[i] / inf_norm[i]);
  }
};
}  // namespace

struct Adamax::State : detail::CountedState<AdamaxStep> {
  explicit State(size_t params) : CountedState("Adamax", {{"exp_avg"}, {"exp_inf"}}, params) {}
};

Adamax::Adamax(std::vector<Tensor> params, AdamaxOptions options)
    : Adamax(detail::one_group(std::move(params), options), options) {}

Adamax::Adamax(std::vector<ParamGroup> groups, AdamaxOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_(std::make_unique<State>(detail::count_params(groups_))) {
  detail::check_unit("Adamax", "beta1", options.beta1);
  detail::check_unit("Adamax", "beta2", options.beta2);
  detail::check_positive("Adamax", "eps", options.eps);
}

Adamax::~Adamax() = default;

void Adamax::prepare(std::vector<ElementUpdate>& updates) {
  const auto moments = detail::Moments::of(options_.beta1, options_.beta2);
  const auto beta1 = static_cast<double>(options_.beta1);
  state_->begin(groups_, updates, [&](const ParamGroup& group, int64_t t, size_t) {
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
    return AdamaxStep{.moments = moments,
                      .eps = options_.eps,
                      .clr = static_cast<float>(static_cast<double>(group.lr) / bias_correction1),
                      .decay = group.weight_decay};
  });
}

void Adamax::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const AdamaxStep& step = state_->steps[u.index];
  detail::update_elements(step, u, begin, end, step.decay != 0);
}

std::vector<std::pair<std::string, Tensor>> Adamax::state() const {
  return state_->buffers.save();
}

void Adamax::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_->buffers.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

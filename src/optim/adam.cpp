#include <algorithm>
#include <cmath>

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's Adam step, as PyTorch 1.13 computes it:
//   m ← β₁·m + (1−β₁)·g,  v ← β₂·v + (1−β₂)·g²,  with amsgrad v̂ ← max(v̂, v) in place of v,
//   w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
// Adam adds λ·w to g (L2); AdamW first shrinks the weight, w ← w·(1 − lr·λ), and keeps g as it is.
struct AdamStep {
  detail::Moments moments;
  float eps;
  float step_size;  // lr/(1−β₁ᵗ)
  float bc2_sqrt;   // √(1−β₂ᵗ)
  float decay;      // λ
  float shrink;     // 1 − lr·λ

  template <bool kDecoupled, bool kL2, bool kAmsgrad>
  void update(int64_t i, float* w, const float* g, float* m, float* v, float* vmax) const {
    float wi = w[i];
    if constexpr (kDecoupled) wi *= shrink;
    float gi = g[i];
    if constexpr (kL2) gi += decay * wi;
    m[i] = moments.first(m[i], gi);
    v[i] = moments.second(v[i], gi);
    float second = v[i];
    if constexpr (kAmsgrad) second = vmax[i] = std::max(vmax[i], v[i]);
    const float denom = std::sqrt(second) / bc2_sqrt + eps;
    w[i] = wi + -step_size * (m[i] / denom);
  }
};

std::vector<detail::Buffer> adam_buffers(const AdamOptions& o) {
  std::vector<detail::Buffer> buffers{{"exp_avg"}, {"exp_avg_sq"}};
  if (o.amsgrad) buffers.push_back({"max_exp_avg_sq"});
  return buffers;
}
}  // namespace

struct Adam::State : detail::CountedState<AdamStep> {
  using CountedState::CountedState;
};

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(detail::one_group(std::move(params), options), options, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Adam(std::move(groups), options, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled)
    : Optimizer(std::move(groups), kParallelUpdateHeavy), options_(options), decoupled_(decoupled) {
  const char* who = decoupled ? "AdamW" : "Adam";
  detail::check_unit(who, "beta1", options.beta1);
  detail::check_unit(who, "beta2", options.beta2);
  detail::check_positive(who, "eps", options.eps);
  state_ = std::make_unique<State>(who, adam_buffers(options), detail::count_params(groups_));
}

Adam::~Adam() = default;

void Adam::prepare(std::vector<ElementUpdate>& updates) {
  const auto moments = detail::Moments::of(options_.beta1, options_.beta2);
  const auto beta1 = static_cast<double>(options_.beta1);
  const auto beta2 = static_cast<double>(options_.beta2);
  state_->begin(groups_, updates, [&](const ParamGroup& group, int64_t step, size_t) {
    // Scalars in double, as PyTorch computes them in Python.
    const auto t = static_cast<double>(step), lr = static_cast<double>(group.lr);
    return AdamStep{
        .moments = moments,
        .eps = options_.eps,
        .step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, t))),
        .bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t))),
        .decay = group.weight_decay,
        .shrink = static_cast<float>(1.0 - lr * static_cast<double>(group.weight_decay))};
  });
}

void Adam::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const AdamStep& step = state_->steps[u.index];
  const bool l2 = !decoupled_ && step.decay != 0;
  detail::update_elements(step, u, begin, end, decoupled_, l2, options_.amsgrad);
}

std::vector<std::pair<std::string, Tensor>> Adam::state() const {
  return state_->buffers.save();
}

void Adam::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_->buffers.load(state, detail::flat_params(groups_));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(detail::one_group(std::move(params), options), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Adam(std::move(groups), options, true) {}

}  // namespace bp::optim

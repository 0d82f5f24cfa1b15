#include <cmath>

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's RMSprop step: v ← α·v + (1−α)·g²; centered also keeps ḡ ← α·ḡ + (1−α)·g and
// uses v − ḡ²; d = √(…) + eps; without momentum w ← w − lr·g/d, with it b ← μ·b + g/d, w ← w −
// lr·b. The buffers: v (square_avg), then b (momentum_buffer) with momentum, then ḡ (grad_avg)
// centered.
struct RMSpropStep {
  float alpha, one_minus_alpha, eps;
  float momentum;  // μ
  float lr;
  float decay;  // λ (L2)

  template <bool kL2, bool kCentered, bool kMomentum>
  void update(int64_t i, float* w, const float* g, float* v, float* s1, float* s2) const {
    float* b = s1;
    float* grad_avg = kMomentum ? s2 : s1;
    float gi = g[i];
    if constexpr (kL2) gi += decay * w[i];
    v[i] = v[i] * alpha + one_minus_alpha * gi * gi;
    float d;
    if constexpr (kCentered) {
      grad_avg[i] = grad_avg[i] * alpha + one_minus_alpha * gi;
      d = std::sqrt(v[i] - grad_avg[i] * grad_avg[i]) + eps;
    } else {
      d = std::sqrt(v[i]) + eps;
    }
    if constexpr (kMomentum) {
      b[i] = b[i] * momentum + gi / d;
      w[i] += -lr * b[i];
    } else {
      w[i] += -lr * (gi / d);
    }
  }
};

std::vector<detail::Buffer> rmsprop_buffers(const RMSpropOptions& o) {
  std::vector<detail::Buffer> buffers{{"square_avg"}};
  if (o.momentum > 0) buffers.push_back({"momentum_buffer"});
  if (o.centered) buffers.push_back({"grad_avg"});
  return buffers;
}
}  // namespace

struct RMSprop::State : detail::CountedState<RMSpropStep> {
  State(const RMSpropOptions& o, size_t params)
      : CountedState("RMSprop", rmsprop_buffers(o), params) {}
};

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(detail::one_group(std::move(params), options), options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_(std::make_unique<State>(options, detail::count_params(groups_))) {
  BP_CHECK_AS(ValueError, std::isfinite(options.alpha) && options.alpha >= 0 && options.alpha <= 1,
              "RMSprop: alpha must be in [0, 1] (got {})", options.alpha);
  detail::check_positive("RMSprop", "eps", options.eps);
  detail::check_unit("RMSprop", "momentum", options.momentum);
}

RMSprop::~RMSprop() = default;

void RMSprop::prepare(std::vector<ElementUpdate>& updates) {
  const auto one_minus_alpha = static_cast<float>(1.0 - static_cast<double>(options_.alpha));
  state_->begin(groups_, updates, [&](const ParamGroup& group, int64_t, size_t) {
    return RMSpropStep{.alpha = options_.alpha,
                       .one_minus_alpha = one_minus_alpha,
                       .eps = options_.eps,
                       .momentum = options_.momentum,
                       .lr = group.lr,
                       .decay = group.weight_decay};
  });
}

void RMSprop::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const RMSpropStep& step = state_->steps[u.index];
  detail::update_elements(step, u, begin, end, step.decay != 0, options_.centered,
                          options_.momentum > 0);
}

std::vector<std::pair<std::string, Tensor>> RMSprop::state() const {
  return state_->buffers.save();
}

void RMSprop::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_->buffers.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

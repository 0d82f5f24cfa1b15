#include <cmath>

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's Adagrad step: s ← s + g², w ← w − clr · g/(√s + eps).
struct AdagradStep {
  float clr;    // lr/(1 + (t−1)·lr_decay)
  float decay;  // λ (L2)
  float eps;

  template <bool kL2>
  void update(int64_t i, float* w, const float* g, float* sum, float*, float*) const {
    float gi = g[i];
    if constexpr (kL2) gi += decay * w[i];
    sum[i] += gi * gi;
    w[i] += -clr * (gi / (std::sqrt(sum[i]) + eps));
  }
};
}  // namespace

// The sum of squares starts at initial_accumulator_value.
struct Adagrad::State : detail::CountedState<AdagradStep> {
  State(size_t params, float initial) : CountedState("Adagrad", {{"sum", initial}}, params) {}
};

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(detail::one_group(std::move(params), options), options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer(std::move(groups), kParallelUpdateHeavy),
      options_(options),
      state_(std::make_unique<State>(detail::count_params(groups_),
                                     options.initial_accumulator_value)) {
  detail::check_finite_at_least("Adagrad", "lr_decay", options.lr_decay, 0);
  detail::check_finite_at_least("Adagrad", "initial_accumulator_value",
                                options.initial_accumulator_value, 0);
  detail::check_positive("Adagrad", "eps", options.eps);
}

Adagrad::~Adagrad() = default;

void Adagrad::prepare(std::vector<ElementUpdate>& updates) {
  const auto lr_decay = static_cast<double>(options_.lr_decay);
  state_->begin(groups_, updates, [&](const ParamGroup& group, int64_t t, size_t) {
    // In double, as PyTorch computes it.
    const double clr =
        static_cast<double>(group.lr) / (1.0 + static_cast<double>(t - 1) * lr_decay);
    return AdagradStep{
        .clr = static_cast<float>(clr), .decay = group.weight_decay, .eps = options_.eps};
  });
}

void Adagrad::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  const AdagradStep& step = state_->steps[u.index];
  detail::update_elements(step, u, begin, end, step.decay != 0);
}

std::vector<std::pair<std::string, Tensor>> Adagrad::state() const {
  return state_->buffers.save();
}

void Adagrad::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  state_->buffers.load(state, detail::flat_params(groups_));
}

}  // namespace bp::optim

#include "optim/common.hpp"
#include "optim/step.hpp"

namespace bp::optim {

namespace {
// One parameter's SGD step (Rumelhart, Hinton & Williams, 1986), g = ∂E/∂w + λ·w:
//   Δw(t) = α·Δw(t−1) − ε·g, w ← w + Δw(t); Nesterov: w ← w + α·Δw(t) − ε·g; no momentum: w ← w −
//   ε·g.
// One branch-free loop per variant, so that each vectorises.
struct SGDStep {
  float lr;        // ε
  float decay;     // λ
  float momentum;  // α

  template <bool kMomentum, bool kNesterov>
  void update(int64_t i, float* w, const float* g, float* velocity, float*, float*) const {
    if constexpr (!kMomentum) {
      w[i] -= lr * (g[i] + decay * w[i]);
    } else if constexpr (kNesterov) {
      const float gi = g[i] + decay * w[i];
      velocity[i] = momentum * velocity[i] - lr * gi;
      w[i] += momentum * velocity[i] - lr * gi;
    } else {
      velocity[i] = momentum * velocity[i] - lr * (g[i] + decay * w[i]);
      w[i] += velocity[i];
    }
  }
};
}  // namespace

struct SGD::State : detail::Steps<SGDStep> {
  using Steps::Steps;
};

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(detail::one_group(std::move(params), options), options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer(std::move(groups)),
      options_(options),
      velocity_(detail::count_params(groups_)),
      state_(std::make_unique<State>(velocity_.size())) {
  BP_CHECK_AS(ValueError, options.momentum >= 0 && options.momentum < 1,
              "SGD: momentum must be in [0, 1) (got {})", options.momentum);
  BP_CHECK_AS(ValueError, !options.nesterov || options.momentum > 0,
              "SGD: Nesterov needs a positive momentum");
}

SGD::~SGD() = default;

void SGD::prepare(std::vector<ElementUpdate>& updates) {
  const bool momentum = options_.momentum > 0;
  state_->begin(groups_, updates, [&](const ParamGroup& group, const Tensor& p, ElementUpdate& u) {
    if (momentum) {
      Tensor& velocity = velocity_[u.index];
      if (!velocity.defined()) velocity = Tensor::zeros(p.shape());
      u.state[0] = velocity.data();
    }
    return SGDStep{.lr = group.lr, .decay = group.weight_decay, .momentum = options_.momentum};
  });
}

void SGD::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  detail::update_elements((*state_)[u.index], u, begin, end, options_.momentum != 0,
                          options_.nesterov);
}

std::vector<std::pair<std::string, Tensor>> SGD::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t k = 0; k < velocity_.size(); ++k)
    if (velocity_[k].defined()) out.emplace_back("velocity." + std::to_string(k), velocity_[k]);
  return out;
}

void SGD::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  const std::vector<Tensor> params = detail::flat_params(groups_);
  std::vector<Tensor> loaded(velocity_.size());
  for (const auto& [name, t] : state) {
    const auto split = detail::split_entry_name(name, params.size());
    BP_CHECK_AS(ValueError, split && split->first == "velocity",
                "SGD::load_state: unexpected state entry '{}'", name);
    const size_t k = split->second;
    BP_CHECK_AS(ValueError, t.defined() && t.shape() == params[k].shape(),
                "SGD::load_state: '{}' has shape {}, the parameter has {}", name,
                t.defined() ? to_string(t.shape()) : "undefined", to_string(params[k].shape()));
    loaded[k] = t.clone();
  }
  velocity_ = std::move(loaded);
}

}  // namespace bp::optim

#include "optim/common.hpp"

namespace bp::optim {

namespace {
// ElementUpdate::scalars of SGD.
enum : size_t { kLr, kDecay };
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(detail::one_group(std::move(params), options), options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer(std::move(groups)), options_(options) {
  BP_CHECK(options.momentum >= 0 && options.momentum < 1,
           "SGD: momentum must be in [0, 1) (got {})", options.momentum);
  BP_CHECK(!options.nesterov || options.momentum > 0, "SGD: Nesterov needs a positive momentum");
  velocity_.resize(detail::count_params(groups_));
}

void SGD::prepare(std::vector<ElementUpdate>& updates) {
  const bool momentum = options_.momentum > 0;
  detail::for_each_with_grad(groups_, [&](ParamGroup& group, Tensor& p, Tensor& grad, size_t k) {
    ElementUpdate& u = updates.emplace_back(detail::element_update(k, p, grad));
    if (momentum) {
      Tensor& velocity = velocity_[k];
      if (!velocity.defined()) velocity = Tensor::zeros(p.shape());
      u.state[0] = velocity.data();
    }
    u.scalars[kLr] = group.lr;
    u.scalars[kDecay] = group.weight_decay;
  });
}

void SGD::apply(const ElementUpdate& u, int64_t begin, int64_t end) const {
  float* __restrict w = u.weight;
  const float* __restrict g = u.grad;
  float* __restrict v = u.state[0];
  const float alpha = options_.momentum, lr = u.scalars[kLr], decay = u.scalars[kDecay];
  // One branch-free loop per variant, so that each vectorises.
  if (alpha == 0) {
    for (int64_t i = begin; i < end; ++i) w[i] -= lr * (g[i] + decay * w[i]);
  } else if (options_.nesterov) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i] + decay * w[i];
      v[i] = alpha * v[i] - lr * gi;  // Δw(t) = α·Δw(t−1) − ε·g
      w[i] += alpha * v[i] - lr * gi;
    }
  } else {
    for (int64_t i = begin; i < end; ++i) {
      v[i] = alpha * v[i] - lr * (g[i] + decay * w[i]);  // Δw(t) = α·Δw(t−1) − ε·g
      w[i] += v[i];
    }
  }
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
    size_t k = 0;
    bool ok = name.rfind("velocity.", 0) == 0;
    if (ok) {
      try {
        size_t used = 0;
        k = std::stoul(name.substr(9), &used);
        ok = used == name.size() - 9 && k < params.size();
      } catch (const std::exception&) {
        ok = false;
      }
    }
    BP_CHECK(ok, "SGD::load_state: unexpected state entry '{}'", name);
    BP_CHECK(t.defined() && t.shape() == params[k].shape(),
             "SGD::load_state: '{}' has shape {}, the parameter has {}", name,
             t.defined() ? to_string(t.shape()) : "undefined", to_string(params[k].shape()));
    loaded[k] = t.clone();
  }
  velocity_ = std::move(loaded);
}

}  // namespace bp::optim

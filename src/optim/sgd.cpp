#include <cmath>

#include "backprop/error.hpp"
#include "backprop/optim.hpp"
#include "kernels/parallel.hpp"

namespace bp::optim {

namespace {
// Tensors with at least this many elements are updated by all threads together. Below it, waking
// a second thread costs more than it saves: sharing the 200k-element update of an MLP layer made a
// 2-thread training step slower (one more fork/join per step, with threads that sleep between).
constexpr int64_t kParallelUpdate = int64_t{1} << 22;
}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  for (const ParamGroup& g : groups_) {
    BP_CHECK(g.lr >= 0 && std::isfinite(g.lr), "optimizer: learning rate must be >= 0 (got {})",
             g.lr);
    BP_CHECK(g.weight_decay >= 0 && std::isfinite(g.weight_decay),
             "optimizer: weight decay must be >= 0 (got {})", g.weight_decay);
    for (const Tensor& p : g.params)
      BP_CHECK(p.defined() && p.requires_grad() && p.is_leaf(),
               "optimizer: every parameter must be a defined leaf tensor with requires_grad");
  }
}

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

void Optimizer::set_lr(float lr) {
  BP_CHECK(lr >= 0 && std::isfinite(lr), "optimizer: learning rate must be >= 0 (got {})", lr);
  for (ParamGroup& g : groups_) g.lr = lr;
}

float Optimizer::lr() const { return groups_.empty() ? 0.0f : groups_.front().lr; }

// ---- SGD ----

namespace {
std::vector<ParamGroup> one_group(std::vector<Tensor> params, const SGDOptions& o) {
  return {ParamGroup{std::move(params), o.lr, o.weight_decay}};
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(one_group(std::move(params), options), options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer(std::move(groups)), options_(options) {
  BP_CHECK(options.momentum >= 0 && options.momentum < 1,
           "SGD: momentum must be in [0, 1) (got {})", options.momentum);
  BP_CHECK(!options.nesterov || options.momentum > 0, "SGD: Nesterov needs a positive momentum");
  size_t count = 0;
  for (const ParamGroup& g : groups_) count += g.params.size();
  velocity_.resize(count);
}

void SGD::step() {
  const float alpha = options_.momentum;
  size_t k = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& p : group.params) {
      Tensor& velocity = velocity_[k++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      BP_CHECK(grad.shape() == p.shape(), "SGD: gradient shape {} differs from parameter shape {}",
               to_string(grad.shape()), to_string(p.shape()));
      if (alpha > 0 && !velocity.defined()) velocity = Tensor::zeros(p.shape());
      float* __restrict w = p.data();
      const float* __restrict g = grad.data();
      const float lr = group.lr, decay = group.weight_decay;
      const int64_t n = p.numel();
      // One branch-free loop per variant, so that each vectorises; very large tensors are shared
      // among the threads.
      const bool parallel = n >= kParallelUpdate;
      if (alpha == 0) {
        kernels::parallel_ranges(n, parallel, [=](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) w[i] -= lr * (g[i] + decay * w[i]);
        });
        continue;
      }
      float* __restrict v = velocity.data();
      if (options_.nesterov) {
        kernels::parallel_ranges(n, parallel, [=](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const float gi = g[i] + decay * w[i];
            v[i] = alpha * v[i] - lr * gi;  // Δw(t) = α·Δw(t−1) − ε·g
            w[i] += alpha * v[i] - lr * gi;
          }
        });
      } else {
        kernels::parallel_ranges(n, parallel, [=](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            v[i] = alpha * v[i] - lr * (g[i] + decay * w[i]);  // Δw(t) = α·Δw(t−1) − ε·g
            w[i] += v[i];
          }
        });
      }
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
  std::vector<Tensor> params;
  for (const ParamGroup& g : groups_) params.insert(params.end(), g.params.begin(), g.params.end());
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

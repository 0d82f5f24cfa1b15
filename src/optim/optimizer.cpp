#include <cmath>
#include <unordered_map>

#include "backprop/error.hpp"
#include "backprop/optim.hpp"
#include "kernels/parallel.hpp"

namespace bp::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, int64_t parallel_update)
    : groups_(std::move(groups)), parallel_update_(parallel_update) {
  for (const ParamGroup& g : groups_) {
    BP_CHECK_AS(ValueError, g.lr >= 0 && std::isfinite(g.lr),
                "optimizer: learning rate must be >= 0 (got {})", g.lr);
    BP_CHECK_AS(ValueError, g.weight_decay >= 0 && std::isfinite(g.weight_decay),
                "optimizer: weight decay must be >= 0 (got {})", g.weight_decay);
    for (const Tensor& p : g.params)
      BP_CHECK_AS(ValueError, p.defined() && p.requires_grad() && p.is_leaf(),
                  "optimizer: every parameter must be a defined leaf tensor with requires_grad");
  }
  // A tensor listed twice would be stepped twice (Module::parameters() lists a tied one once).
  std::unordered_map<const void*, size_t> index;
  size_t k = 0;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) {
      const auto [it, added] = index.emplace(p.impl().get(), k);
      BP_CHECK_AS(ValueError, added,
                  "optimizer: parameter {} is the same tensor as parameter {} (listed twice)", k,
                  it->second);
      ++k;
    }
}

void Optimizer::step() {
  for (const ElementUpdate& u : begin_step())
    kernels::parallel_ranges(u.size, u.size >= parallel_update_,
                             [&](int64_t begin, int64_t end) { apply(u, begin, end); });
}

const std::vector<ElementUpdate>& Optimizer::begin_step() {
  // Every shape first, so that a bad gradient leaves the update counts and buffers untouched.
  size_t k = 0;
  for (const ParamGroup& g : groups_) {
    for (const Tensor& p : g.params) {
      const Tensor grad = p.grad();
      BP_CHECK_AS(ShapeError, !grad.defined() || grad.shape() == p.shape(),
                  "{}: gradient shape {} differs from the shape {} of parameter {}", kind(),
                  to_string(grad.shape()), to_string(p.shape()), k);
      ++k;
    }
  }
  updates_.clear();
  prepare(updates_);
  return updates_;
}

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

void Optimizer::set_lr(float lr) {
  BP_CHECK_AS(ValueError, lr >= 0 && std::isfinite(lr),
              "optimizer: learning rate must be >= 0 (got {})", lr);
  for (ParamGroup& g : groups_) g.lr = lr;
}

float Optimizer::lr() const {
  return groups_.empty() ? 0.0f : groups_.front().lr;
}

}  // namespace bp::optim

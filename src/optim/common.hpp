// Helpers shared by the optimizers (internal).
#pragma once

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "backprop/error.hpp"
#include "backprop/optim.hpp"

namespace bp::optim::detail {

// The parameters of all groups, in order (the index k of ParamState).
inline std::vector<Tensor> flat_params(const std::vector<ParamGroup>& groups) {
  std::vector<Tensor> out;
  for (const ParamGroup& g : groups) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

inline size_t count_params(const std::vector<ParamGroup>& groups) {
  size_t n = 0;
  for (const ParamGroup& g : groups) n += g.params.size();
  return n;
}

// One group of `params` with the options' learning rate and weight decay.
template <class Options>
std::vector<ParamGroup> one_group(std::vector<Tensor> params, const Options& o) {
  return {ParamGroup{std::move(params), o.lr, o.weight_decay}};
}

inline void check_finite_at_least(const char* who, const char* what, float value, float low) {
  BP_CHECK(std::isfinite(value) && value >= low, "{}: {} must be a finite number >= {} (got {})",
           who, what, low, value);
}

// Requires a finite value > 0: what a denominator's eps must be, or a parameter whose gradient is
// 0 would get 0/0 = NaN.
inline void check_positive(const char* who, const char* what, float value) {
  BP_CHECK(std::isfinite(value) && value > 0, "{}: {} must be a finite number > 0 (got {})", who,
           what, value);
}

// Requires value in [0, 1).
inline void check_unit(const char* who, const char* what, float value) {
  BP_CHECK(std::isfinite(value) && value >= 0 && value < 1, "{}: {} must be in [0, 1) (got {})",
           who, what, value);
}

// Calls f(group, param, grad, k) for every parameter that has a gradient, k being its position in
// the flattened groups (Optimizer::begin_step has checked the gradients' shapes).
template <class F>
void for_each_with_grad(std::vector<ParamGroup>& groups, F&& f) {
  size_t k = 0;
  for (ParamGroup& group : groups) {
    for (Tensor& p : group.params) {
      const size_t index = k++;
      Tensor grad = p.grad();
      if (grad.defined()) f(group, p, grad, index);
    }
  }
}

// The update of parameter k, `p`, from its gradient, with no state or scalars yet.
inline ElementUpdate element_update(size_t k, Tensor& p, Tensor& grad) {
  ElementUpdate u;
  u.index = k;
  u.size = p.numel();
  u.weight = p.data();
  u.grad = grad.data();
  return u;
}

// The same, pointing at the first `buffers` buffers of the parameter's state.
inline ElementUpdate element_update(size_t k, Tensor& p, Tensor& grad, ParamState& state,
                                    size_t buffers) {
  ElementUpdate u = element_update(k, p, grad);
  for (size_t b = 0; b < buffers; ++b) u.state[b] = state.buffer(k, b).data();
  return u;
}

// Calls f(std::true_type{}) or f(std::false_type{}) as `flag` says, so that an option constant for
// the step picks a loop variant once, outside the loop (each variant then vectorises).
template <class F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

}  // namespace bp::optim::detail

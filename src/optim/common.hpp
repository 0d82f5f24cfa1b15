// Helpers shared by the optimizers (internal).
#pragma once

#include <cmath>
#include <string>
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

inline void check_finite_at_least(const char* who, const char* what, float value, float low) {
  BP_CHECK(std::isfinite(value) && value >= low, "{}: {} must be a finite number >= {} (got {})",
           who, what, low, value);
}

// Requires value in [0, 1).
inline void check_unit(const char* who, const char* what, float value) {
  BP_CHECK(std::isfinite(value) && value >= 0 && value < 1, "{}: {} must be in [0, 1) (got {})",
           who, what, value);
}

// The parameter's gradient, or an undefined tensor when it has none; throws on a shape mismatch.
inline Tensor checked_grad(const char* who, const Tensor& p) {
  Tensor grad = p.grad();
  if (grad.defined())
    BP_CHECK(grad.shape() == p.shape(), "{}: gradient shape {} differs from parameter shape {}",
             who, to_string(grad.shape()), to_string(p.shape()));
  return grad;
}

}  // namespace bp::optim::detail

// Helpers shared by the optimizers (internal): their parameters and the checks of their options.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "backprop/error.hpp"
#include "backprop/optim.hpp"

namespace bp::optim::detail {

// The parameters of all groups, in order: parameter k of the optimizer.
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
  BP_CHECK_AS(ValueError, std::isfinite(value) && value >= low,
              "{}: {} must be a finite number >= {} (got {})", who, what, low, value);
}

// Requires a finite value > 0: what a denominator's eps must be, or a parameter whose gradient is
// 0 would get 0/0 = NaN.
inline void check_positive(const char* who, const char* what, float value) {
  BP_CHECK_AS(ValueError, std::isfinite(value) && value > 0,
              "{}: {} must be a finite number > 0 (got {})", who, what, value);
}

// Requires value in [0, 1).
inline void check_unit(const char* who, const char* what, float value) {
  BP_CHECK_AS(ValueError, std::isfinite(value) && value >= 0 && value < 1,
              "{}: {} must be in [0, 1) (got {})", who, what, value);
}

// The moving averages of the Adam family, m ← β₁·m + (1−β₁)·g and v ← β₂·v + (1−β₂)·g², with
// 1−β rounded to float once, as PyTorch does.
struct Moments {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;

  static Moments of(float beta1, float beta2) {
    return {beta1, beta2, static_cast<float>(1.0 - static_cast<double>(beta1)),
            static_cast<float>(1.0 - static_cast<double>(beta2))};
  }
  float first(float m, float g) const { return m * beta1 + one_minus_beta1 * g; }
  float second(float v, float g) const { return v * beta2 + one_minus_beta2 * g * g; }
};

}  // namespace bp::optim::detail

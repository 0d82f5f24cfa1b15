// Numerical gradient check: compares the analytic gradients computed by backward() with central
// finite differences.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp {

struct BP_API GradcheckOptions {
  float eps = 1e-2f;   // finite-difference step
  double atol = 1e-3;  // an entry passes when |analytic - numeric| <= atol + rtol·|numeric|
  double rtol = 1e-2;
  uint64_t seed = 7;  // seeds the random upstream gradient and the sampled elements
  // Check at most this many elements per input, chosen at random (0 = all). Whole networks have
  // too many weights to perturb one by one; a random sample still catches a wrong derivative.
  int64_t max_elements_per_input = 0;
};

struct BP_API GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;  // the largest |analytic - numeric| over all checked entries
  int64_t checked = 0;       // number of elements perturbed
  std::string message;       // names the worst entry when !ok
};

// Checks d(v·f(inputs))/d(inputs) for a random upstream v, for every input that requires a
// gradient. The numeric side perturbs one element at a time and evaluates f twice; the sum over
// outputs is done in double, so float32 rounding stays far below the tolerances (f runs in fp32
// whatever bp::precision() says). f must be
// deterministic. Throws bp::Error if no input requires a gradient or f returns an undefined tensor.
BP_API GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs,
                                 const GradcheckOptions& options = {});

}  // namespace bp

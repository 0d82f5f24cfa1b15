#include "backprop/gradcheck.hpp"

#include <cmath>

#include "backprop/error.hpp"

namespace bp {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  BP_CHECK(options.eps > 0 && options.atol >= 0 && options.rtol >= 0 &&
               options.max_elements_per_input >= 0,
           "gradcheck: eps must be positive and tolerances non-negative");
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  BP_CHECK(any, "gradcheck: no input requires a gradient");
  // Finite differences need fp32's resolution: bf16 rounding would swamp the perturbation.
  const PrecisionGuard fp32(Precision::fp32);

  // Analytic side: backward of v·f with a random upstream v.
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) Tensor(t).clear_grad();
  Tensor output = f(inputs);
  BP_CHECK(output.defined(), "gradcheck: the function returned an undefined tensor");
  Generator gen(options.seed);
  Tensor upstream = Tensor::uniform(output.shape(), -1.0f, 1.0f, gen);
  if (output.requires_grad()) output.backward(upstream);

  // Numeric side: central differences of v·f, summed in double.
  auto project = [&](const Tensor& y) {
    double s = 0;
    for (int64_t j = 0; j < y.numel(); ++j)
      s += static_cast<double>(upstream.data()[j]) * static_cast<double>(y.data()[j]);
    return s;
  };

  GradcheckResult result;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor input = inputs[k];
    if (!input.defined() || !input.requires_grad()) continue;
    Tensor analytic = input.grad();
    std::vector<int64_t> elements(static_cast<size_t>(input.numel()));
    for (size_t i = 0; i < elements.size(); ++i) elements[i] = static_cast<int64_t>(i);
    const auto limit = static_cast<size_t>(options.max_elements_per_input);
    if (limit > 0 && limit < elements.size()) {
      // A partial Fisher-Yates shuffle picks `limit` distinct elements.
      for (size_t i = 0; i < limit; ++i)
        std::swap(elements[i], elements[i + gen.below(elements.size() - i)]);
      elements.resize(limit);
    }
    for (int64_t i : elements) {
      ++result.checked;
      float original = input.data()[i];
      input.data()[i] = original + options.eps;
      double plus = project(f(inputs));
      input.data()[i] = original - options.eps;
      double minus = project(f(inputs));
      input.data()[i] = original;
      // Divide by the step actually taken in float arithmetic.
      double step =
          static_cast<double>(original + options.eps) - static_cast<double>(original - options.eps);
      double numeric = (plus - minus) / step;
      double got = analytic.defined() ? analytic.data()[i] : 0.0;
      double error = std::fabs(got - numeric);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (!(error <= options.atol + options.rtol * std::fabs(numeric)) && result.ok) {
        result.ok = false;
        result.message = fmt::format(
            "gradcheck: input {} element {}: analytic {:.6g}, numeric {:.6g} (|diff| {:.3g})", k, i,
            got, numeric, error);
      }
    }
  }
  return result;
}

}  // namespace bp

#include <cmath>

#include "backprop/error.hpp"
#include "backprop/optim.hpp"

namespace bp::optim::detail {

ParamState::ParamState(std::string owner, std::vector<std::string> buffer_names, size_t params)
    : owner_(std::move(owner)),
      names_(std::move(buffer_names)),
      steps_(params, 0),
      buffers_(params, std::vector<Tensor>(names_.size())) {}

int64_t ParamState::advance(size_t k, const Shape& shape, float fill) {
  for (Tensor& t : buffers_[k])
    if (!t.defined()) t = Tensor::full(shape, fill);
  return ++steps_[k];
}

std::vector<std::pair<std::string, Tensor>> ParamState::save() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t k = 0; k < steps_.size(); ++k) {
    if (steps_[k] == 0) continue;
    const std::string index = fmt::format(".{}", k);
    out.emplace_back("step" + index, Tensor::scalar(static_cast<float>(steps_[k])).reshape({1}));
    for (size_t b = 0; b < names_.size(); ++b) out.emplace_back(names_[b] + index, buffers_[k][b]);
  }
  return out;
}

void ParamState::load(const std::vector<std::pair<std::string, Tensor>>& state,
                      const std::vector<Tensor>& params) {
  const size_t n = steps_.size();
  BP_CHECK(params.size() == n, "{}::load_state: {} parameters, expected {}", owner_, params.size(),
           n);
  std::vector<int64_t> steps(n, 0);
  std::vector<std::vector<Tensor>> buffers(n, std::vector<Tensor>(names_.size()));
  for (const auto& [name, t] : state) {
    const size_t dot = name.rfind('.');
    size_t k = 0;
    bool ok = dot != std::string::npos && dot + 1 < name.size();
    if (ok) {
      try {
        size_t used = 0;
        k = std::stoul(name.substr(dot + 1), &used);
        ok = used == name.size() - dot - 1 && k < n;
      } catch (const std::exception&) {
        ok = false;
      }
    }
    const std::string kind = ok ? name.substr(0, dot) : "";
    size_t b = names_.size();
    for (size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == kind) b = i;
    BP_CHECK(ok && (kind == "step" || b < names_.size()),
             "{}::load_state: unexpected state entry '{}'", owner_, name);
    BP_CHECK(t.defined(), "{}::load_state: '{}' is undefined", owner_, name);
    if (kind == "step") {
      BP_CHECK(t.numel() == 1, "{}::load_state: '{}' must hold one value, has {}", owner_, name,
               t.numel());
      const float v = t.data()[0];
      BP_CHECK(std::isfinite(v) && v >= 1 && v == std::floor(v),
               "{}::load_state: '{}' must be a whole number >= 1 (got {})", owner_, name, v);
      steps[k] = static_cast<int64_t>(v);
      continue;
    }
    // A buffer has the parameter's shape, except single-value ones such as NAdam's mu_product.
    const Tensor& p = params[k];
    const bool scalar_buffer = kind == "mu_product";
    BP_CHECK(scalar_buffer ? t.numel() == 1 : t.shape() == p.shape(),
             "{}::load_state: '{}' has shape {}, expected {}", owner_, name, to_string(t.shape()),
             scalar_buffer ? std::string("[1]") : to_string(p.shape()));
    buffers[k][b] = t.clone();
  }
  for (size_t k = 0; k < n; ++k) {
    bool any = steps[k] > 0, all = steps[k] > 0;
    for (const Tensor& t : buffers[k]) {
      any = any || t.defined();
      all = all && t.defined();
    }
    BP_CHECK(!any || all, "{}::load_state: parameter {} has only part of its state (step and {})",
             owner_, k, fmt::join(names_, ", "));
  }
  steps_ = std::move(steps);
  buffers_ = std::move(buffers);
}

}  // namespace bp::optim::detail

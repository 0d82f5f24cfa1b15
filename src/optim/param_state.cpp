#include "optim/param_state.hpp"

#include <cmath>

#include "backprop/error.hpp"

namespace bp::optim::detail {

std::optional<std::pair<std::string, size_t>> split_entry_name(const std::string& entry,
                                                               size_t params) {
  const size_t dot = entry.rfind('.');
  if (dot == std::string::npos || dot + 1 >= entry.size()) return std::nullopt;
  try {
    size_t used = 0;
    const size_t k = std::stoul(entry.substr(dot + 1), &used);
    if (used != entry.size() - dot - 1 || k >= params) return std::nullopt;
    return std::pair{entry.substr(0, dot), k};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ParamState::ParamState(std::string owner, std::vector<Buffer> buffers, size_t params)
    : owner_(std::move(owner)),
      specs_(std::move(buffers)),
      steps_(params, 0),
      buffers_(params, std::vector<Tensor>(specs_.size())) {}

int64_t ParamState::advance(size_t k, const Shape& shape) {
  for (size_t b = 0; b < specs_.size(); ++b) {
    Tensor& t = buffers_[k][b];
    if (!t.defined()) t = Tensor::full(specs_[b].per_element ? shape : Shape{1}, specs_[b].fill);
  }
  return ++steps_[k];
}

void ParamState::point(ElementUpdate& u) {
  size_t slot = 0;
  for (size_t b = 0; b < specs_.size(); ++b)
    if (specs_[b].per_element) u.state[slot++] = buffers_[u.index][b].data();
}

std::vector<std::pair<std::string, Tensor>> ParamState::save() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t k = 0; k < steps_.size(); ++k) {
    if (steps_[k] == 0) continue;
    const std::string index = fmt::format(".{}", k);
    out.emplace_back("step" + index, Tensor::scalar(static_cast<float>(steps_[k])).reshape({1}));
    for (size_t b = 0; b < specs_.size(); ++b)
      out.emplace_back(specs_[b].name + index, buffers_[k][b]);
  }
  return out;
}

void ParamState::load(const std::vector<std::pair<std::string, Tensor>>& state,
                      const std::vector<Tensor>& params) {
  const size_t n = steps_.size();
  BP_CHECK_AS(ValueError, params.size() == n, "{}::load_state: {} parameters, expected {}", owner_,
              params.size(), n);
  std::vector<int64_t> steps(n, 0);
  std::vector<std::vector<Tensor>> buffers(n, std::vector<Tensor>(specs_.size()));
  for (const auto& [entry, t] : state) {
    const auto split = split_entry_name(entry, n);
    const std::string name = split ? split->first : "";
    size_t b = 0;
    while (b < specs_.size() && specs_[b].name != name) ++b;
    BP_CHECK_AS(ValueError, split && (name == "step" || b < specs_.size()),
                "{}::load_state: unexpected state entry '{}'", owner_, entry);
    BP_CHECK_AS(ValueError, t.defined(), "{}::load_state: '{}' is undefined", owner_, entry);
    const size_t k = split->second;
    if (name == "step")
      steps[k] = load_step(entry, t);
    else
      buffers[k][b] = load_buffer(entry, t, specs_[b], params[k]);
  }
  for (size_t k = 0; k < n; ++k) check_whole(k, buffers[k], steps[k]);
  steps_ = std::move(steps);
  buffers_ = std::move(buffers);
}

int64_t ParamState::load_step(const std::string& entry, const Tensor& t) const {
  BP_CHECK_AS(ValueError, t.numel() == 1, "{}::load_state: '{}' must hold one value, has {}",
              owner_, entry, t.numel());
  const float v = t.data()[0];
  BP_CHECK_AS(ValueError, std::isfinite(v) && v >= 1 && v == std::floor(v),
              "{}::load_state: '{}' must be a whole number >= 1 (got {})", owner_, entry, v);
  return static_cast<int64_t>(v);
}

Tensor ParamState::load_buffer(const std::string& entry, const Tensor& t, const Buffer& buffer,
                               const Tensor& param) const {
  BP_CHECK_AS(ValueError, buffer.per_element ? t.shape() == param.shape() : t.numel() == 1,
              "{}::load_state: '{}' has shape {}, expected {}", owner_, entry, to_string(t.shape()),
              buffer.per_element ? to_string(param.shape()) : std::string("[1]"));
  return t.clone();
}

// A parameter's state is all there or not at all.
void ParamState::check_whole(size_t k, const std::vector<Tensor>& buffers, int64_t step) const {
  bool any = step > 0, all = step > 0;
  for (const Tensor& t : buffers) {
    any = any || t.defined();
    all = all && t.defined();
  }
  if (!any || all) return;
  std::vector<std::string> names;
  for (const Buffer& b : specs_) names.push_back(b.name);
  fail_as<ValueError>("{}::load_state: parameter {} has only part of its state (step and {})",
                      owner_, k, fmt::join(names, ", "));
}

}  // namespace bp::optim::detail

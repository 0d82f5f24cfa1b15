// What every optimizer step shares (internal): the per-parameter half of begin_step() and the
// element loop of apply(). An optimizer brings its Step: a struct holding by name the constants of
// one parameter's update, whose update<flags...>(i, w, g, s0, s1, s2) updates element i of the
// weights w from the gradient g and the optimizer's buffers s (ElementUpdate::state).
#pragma once

#include <cstdint>
#include <vector>

#include "backprop/optim.hpp"
#include "optim/param_state.hpp"

namespace bp::optim::detail {

// The steps of the last begin_step(), one per parameter of the flattened groups (a parameter
// without a gradient keeps an old one, which no update points to).
template <class Step>
class Steps {
 public:
  explicit Steps(size_t params) : steps_(params) {}
  const Step& operator[](size_t k) const { return steps_[k]; }

  // Appends an update for every parameter that has a gradient, in order (begin_step() has checked
  // the gradients' shapes); start(group, param, update) points the update at the parameter's
  // buffers and returns its step.
  template <class Start>
  void begin(std::vector<ParamGroup>& groups, std::vector<ElementUpdate>& updates, Start&& start) {
    size_t k = 0;
    for (ParamGroup& group : groups) {
      for (Tensor& p : group.params) {
        const size_t index = k++;
        Tensor grad = p.grad();
        if (!grad.defined()) continue;
        p.bump_version();  // apply() changes the weights in place
        ElementUpdate& u = updates.emplace_back();
        u.index = index;
        u.size = p.numel();
        u.weight = p.data();
        u.grad = grad.data();
        steps_[index] = start(static_cast<const ParamGroup&>(group), p, u);
      }
    }
  }

 private:
  std::vector<Step> steps_;
};

// The state of an optimizer that counts each parameter's updates and keeps buffers for it.
template <class Step>
struct CountedState {
  CountedState(std::string owner, std::vector<Buffer> specs, size_t params)
      : buffers(std::move(owner), std::move(specs), params), steps(params) {}

  // begin_step(): counts one more update of every parameter with a gradient, creating its buffers
  // at the first, and makes its step as make(group, t, k) from the new count t.
  template <class Make>
  void begin(std::vector<ParamGroup>& groups, std::vector<ElementUpdate>& updates, Make&& make) {
    steps.begin(groups, updates, [&](const ParamGroup& group, const Tensor& p, ElementUpdate& u) {
      const int64_t t = buffers.advance(u.index, p.shape());
      buffers.point(u);
      return make(group, t, u.index);
    });
  }

  ParamState buffers;
  Steps<Step> steps;
};

// apply(): updates elements [begin, end) of u with step.update<kFlags..., flags...>, each flag
// given at run time becoming a compile-time one, so that every variant of the loop is free of
// branches and vectorises.
template <bool... kFlags, class Step>
void update_elements(const Step& step, const ElementUpdate& u, int64_t begin, int64_t end) {
  const Step s = step;  // the constants in registers, apart from anything the loop writes
  float* __restrict w = u.weight;
  const float* __restrict g = u.grad;
  float* __restrict s0 = u.state[0];
  float* __restrict s1 = u.state[1];
  float* __restrict s2 = u.state[2];
  for (int64_t i = begin; i < end; ++i) s.template update<kFlags...>(i, w, g, s0, s1, s2);
}

template <bool... kFlags, class Step, class... Flags>
void update_elements(const Step& step, const ElementUpdate& u, int64_t begin, int64_t end,
                     bool flag, Flags... flags) {
  if (flag)
    update_elements<kFlags..., true>(step, u, begin, end, flags...);
  else
    update_elements<kFlags..., false>(step, u, begin, end, flags...);
}

}  // namespace bp::optim::detail

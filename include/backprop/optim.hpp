// Optimizers: update parameters from their accumulated gradients.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "backprop/tensor.hpp"

namespace bp::optim {

// A set of parameters sharing hyper-parameters.
struct ParamGroup {
  std::vector<Tensor> params;
  float lr;
  float weight_decay = 0.0f;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update from the current gradients. Parameters with no gradient are skipped.
  // Throws bp::Error if a gradient's shape differs from its parameter's.
  virtual void step() = 0;
  // Zeroes every parameter's gradient.
  void zero_grad();
  // Sets the learning rate of every group (takes effect at the next step); requires lr >= 0.
  void set_lr(float lr);
  float lr() const;  // the first group's
  std::vector<ParamGroup>& param_groups() { return groups_; }

  // A short name such as "sgd" (recorded in checkpoints).
  virtual std::string kind() const = 0;
  // The optimizer's internal state (momentum buffers, step counts) as named tensors, for
  // checkpoints. load_state() of what state() returned restores the exact same trajectory.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  // Throws bp::Error when a tensor's name or shape does not belong to this optimizer.
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  explicit Optimizer(std::vector<ParamGroup> groups);
  std::vector<ParamGroup> groups_;
};

struct SGDOptions {
  float lr = 0.01f;
  float momentum = 0.0f;      // the paper's α
  float weight_decay = 0.0f;  // L2: adds weight_decay·w to the gradient
  bool nesterov = false;
};

// Stochastic gradient descent in the form of Rumelhart, Hinton & Williams (1986):
//   Δw(t) = −ε·(∂E/∂w + λ·w) + α·Δw(t−1),  w ← w + Δw(t)
// and with Nesterov momentum w ← w + α·Δw(t) − ε·(∂E/∂w + λ·w). At a constant learning rate this
// is the same trajectory as PyTorch's SGD. Throws bp::Error on lr < 0, momentum outside [0, 1),
// weight_decay < 0, or nesterov without momentum.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  void step() override;
  std::string kind() const override { return "sgd"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const SGDOptions& options() const { return options_; }
  // Δw(t−1) per parameter of the flattened groups (undefined before the first step).
  std::vector<Tensor>& velocity() { return velocity_; }

 private:
  SGDOptions options_;
  std::vector<Tensor> velocity_;
};

}  // namespace bp::optim

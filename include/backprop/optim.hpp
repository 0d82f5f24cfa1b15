// Optimizers: update parameters from their accumulated gradients.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::optim {

// A set of parameters sharing hyper-parameters.
struct BP_API ParamGroup {
  std::vector<Tensor> params;
  float lr;
  float weight_decay = 0.0f;
};

// One parameter's part of an optimizer step: what Optimizer::apply needs to update its elements.
struct BP_API ElementUpdate {
  size_t index = 0;  // the parameter's position in the flattened groups
  int64_t size = 0;  // its element count
  float* weight = nullptr;
  const float* grad = nullptr;
  std::array<float*, 3> state{};   // the optimizer's buffers for this parameter (unused: nullptr)
  std::array<float, 6> scalars{};  // per-step constants, for an optimizer that keeps them here
};

class BP_API Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update from the current gradients: begin_step(), then apply() over every element
  // of every update, large tensors shared among the threads. Parameters with no gradient are
  // skipped. Throws bp::Error if a gradient's shape differs from its parameter's.
  void step();
  // A step in two parts, for callers that share the elementwise work among their own threads:
  // begin_step() does the per-parameter bookkeeping (gradient checks, state buffers, update
  // counts, per-step constants) and returns one update per parameter that has a gradient, valid
  // until the next begin_step() or load_state() (and while no gradient is cleared);
  // apply(u, begin, end) updates elements [begin, end) of u's parameter. Disjoint ranges may be
  // applied concurrently, from any threads, in any order; applying every element of every update
  // exactly once is step(), bit for bit. begin_step() checks every gradient's shape before it
  // changes anything, so when it throws the optimizer's state is as it was.
  const std::vector<ElementUpdate>& begin_step();
  virtual void apply(const ElementUpdate& update, int64_t begin, int64_t end) const = 0;
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
  // step() updates a tensor with at least `parallel_update` elements on all threads together;
  // below, waking a second thread costs more than it saves. Sharing the 200k-element update of an
  // MLP layer made a 2-thread SGD training step slower (one more fork/join per step, with threads
  // that sleep between); at 1M elements, with sleeping threads, sharing still made SGD's
  // memory-bound update slower (0.8-0.95x) but those that divide per element (Adamax) and take
  // square roots (Adam) 1.3-1.6x faster. (The trainer's split step shares every update through
  // begin_step/apply instead, inside the team it already runs.)
  static constexpr int64_t kParallelUpdate = int64_t{1} << 22;
  static constexpr int64_t kParallelUpdateHeavy = int64_t{1} << 20;  // divisions, square roots
  // Throws bp::Error on a negative learning rate or weight decay, a parameter that is not a leaf
  // requiring a gradient, or a tensor listed twice (it would be stepped twice).
  explicit Optimizer(std::vector<ParamGroup> groups, int64_t parallel_update = kParallelUpdate);
  // Appends one update per parameter with a gradient, in the order of the flattened groups
  // (called by begin_step with `updates` empty, after the gradient shapes were checked).
  virtual void prepare(std::vector<ElementUpdate>& updates) = 0;
  std::vector<ParamGroup> groups_;

 private:
  int64_t parallel_update_;
  std::vector<ElementUpdate> updates_;  // reused: no allocation in a steady-state step
};

struct BP_API SGDOptions {
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
class BP_API SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  ~SGD() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return "sgd"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const SGDOptions& options() const { return options_; }
  // Δw(t−1) per parameter of the flattened groups (undefined before the first step).
  std::vector<Tensor>& velocity() { return velocity_; }

 private:
  struct State;  // the constants of the last begin_step()
  void prepare(std::vector<ElementUpdate>& updates) override;
  SGDOptions options_;
  std::vector<Tensor> velocity_;
  std::unique_ptr<State> state_;
};

// ---- adaptive optimizers: each follows PyTorch 1.13's update, element for element ----
// All of them: a parameter's update count starts at 0 and rises by one on each step() (each
// begin_step()) that finds a gradient for it; g is the gradient plus weight_decay·w (L2) unless
// stated otherwise; the learning rate and weight decay come from the parameter's group. The
// constructors throw bp::Error naming the optimizer and the option when a value is out of range
// (negative or non-finite lr or weight decay; eps not > 0, which would make 0/0 = NaN wherever a
// gradient is 0; a β outside [0, 1)). state() holds, for each parameter k updated at least once,
// its count "step.<k>" (one value) and each of its buffers "<buffer>.<k>" (named with each class).

struct BP_API AdagradOptions {
  float lr = 0.01f;
  float lr_decay = 0.0f;
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
  float eps = 1e-10f;
};

// Adagrad (Duchi et al., 2011): s ← s + g², w ← w − lr/(1 + (t−1)·lr_decay) · g/(√s + eps).
class BP_API Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options);
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options);
  ~Adagrad() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return "adagrad"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const AdagradOptions& options() const { return options_; }

 private:
  void prepare(std::vector<ElementUpdate>& updates) override;
  AdagradOptions options_;
  struct State;  // update counts, last steps; buffers sum
  std::unique_ptr<State> state_;
};

struct BP_API RMSpropOptions {
  float lr = 0.01f;
  float alpha = 0.99f;  // smoothing of the squared-gradient average, in [0, 1]
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float momentum = 0.0f;  // in [0, 1)
  bool centered = false;  // divide by the estimated variance instead of the raw second moment
};

// RMSprop (Hinton, 2012): v ← α·v + (1−α)·g²; centered also keeps ḡ ← α·ḡ + (1−α)·g and uses
// v − ḡ²; d = √(…) + eps; without momentum w ← w − lr·g/d, with it b ← μ·b + g/d, w ← w − lr·b.
class BP_API RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options);
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options);
  ~RMSprop() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return "rmsprop"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const RMSpropOptions& options() const { return options_; }

 private:
  void prepare(std::vector<ElementUpdate>& updates) override;
  RMSpropOptions options_;
  struct State;  // update counts, last steps; buffers square_avg [, momentum_buffer] [, grad_avg]
  std::unique_ptr<State> state_;
};

struct BP_API AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // Adam: L2 added to the gradient; AdamW: decoupled
  bool amsgrad = false;
};

// Adam (Kingma & Ba, 2015): m ← β₁·m + (1−β₁)·g, v ← β₂·v + (1−β₂)·g², with amsgrad v̂ ← max(v̂, v)
// used in place of v; w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
class BP_API Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  Adam(std::vector<ParamGroup> groups, AdamOptions options);
  ~Adam() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return decoupled_ ? "adamw" : "adam"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled);

 private:
  void prepare(std::vector<ElementUpdate>& updates) override;
  AdamOptions options_;
  bool decoupled_;
  struct State;  // update counts, last steps; buffers exp_avg, exp_avg_sq [, max_exp_avg_sq]
  std::unique_ptr<State> state_;
};

// AdamW (Loshchilov & Hutter, 2019): Adam whose weight decay is applied to the weight, not added
// to the gradient: w ← w·(1 − lr·weight_decay) before the Adam update with the raw gradient.
// PyTorch's default weight decay for AdamW is 0.01.
struct BP_API AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay = 0.01f; }
};

class BP_API AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options);
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);
};

struct BP_API AdamaxOptions {
  float lr = 2e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

// Adamax (Kingma & Ba, 2015, §7.1): m ← β₁·m + (1−β₁)·g, u ← max(β₂·u, |g| + eps),
// w ← w − lr/(1−β₁ᵗ) · m/u.
class BP_API Adamax : public Optimizer {
 public:
  Adamax(std::vector<Tensor> params, AdamaxOptions options);
  Adamax(std::vector<ParamGroup> groups, AdamaxOptions options);
  ~Adamax() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return "adamax"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const AdamaxOptions& options() const { return options_; }

 private:
  void prepare(std::vector<ElementUpdate>& updates) override;
  AdamaxOptions options_;
  struct State;  // update counts, last steps; buffers exp_avg, exp_inf
  std::unique_ptr<State> state_;
};

struct BP_API NAdamOptions {
  float lr = 2e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float momentum_decay = 4e-3f;  // ψ
};

// NAdam (Dozat, 2016), as PyTorch 1.13 computes it: μₜ = β₁·(1 − ½·0.96^(t·ψ)), Πₜ = Π_{i≤t} μᵢ
// (kept in float32, like PyTorch's mu_product), m and v as Adam, d = √(v/(1−β₂ᵗ)) + eps,
//   w ← w − lr·(1−μₜ)/(1−Πₜ) · g/d − lr·μₜ₊₁/(1 − Πₜ·μₜ·μₜ₊₁) · m/d.
// The second denominator is 1.13's (later PyTorch releases use 1 − Πₜ·μₜ₊₁).
class BP_API NAdam : public Optimizer {
 public:
  NAdam(std::vector<Tensor> params, NAdamOptions options);
  NAdam(std::vector<ParamGroup> groups, NAdamOptions options);
  ~NAdam() override;
  void apply(const ElementUpdate& update, int64_t begin, int64_t end) const override;
  std::string kind() const override { return "nadam"; }
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  const NAdamOptions& options() const { return options_; }

 private:
  void prepare(std::vector<ElementUpdate>& updates) override;
  NAdamOptions options_;
  struct State;  // update counts, last steps; buffers exp_avg, exp_avg_sq, mu_product
  std::unique_ptr<State> state_;
};

// ---- building an optimizer by name ----

// Every hyper-parameter any optimizer takes; each optimizer reads the ones it knows. An unset
// optional takes the optimizer's own default, that of its options struct (lr: sgd, adagrad and
// rmsprop 0.01, adam and adamw 1e-3, adamax and nadam 2e-3; weight_decay: adamw 0.01, others 0;
// eps: adagrad 1e-10, others 1e-8); the other defaults are those of every optimizer.
struct BP_API OptimizerSettings {
  std::optional<float> lr = std::nullopt;
  float momentum = 0.0f;                             // sgd, rmsprop
  std::optional<float> weight_decay = std::nullopt;  // L2 (adamw: decoupled)
  bool nesterov = false;                             // sgd
  float beta1 = 0.9f;                                // adam, adamw, adamax, nadam
  float beta2 = 0.999f;
  std::optional<float> eps = std::nullopt;  // all but sgd
  float alpha = 0.99f;                      // rmsprop
  bool centered = false;                    // rmsprop
  bool amsgrad = false;                     // adam, adamw
};

// The names make_optimizer accepts: sgd, adagrad, rmsprop, adam, adamw, adamax, nadam.
BP_API const std::vector<std::string>& optimizer_kinds();
// `settings` with every unset optional set to the default of `kind` (eps stays unset for sgd,
// which has none). Throws bp::Error naming the known kinds on an unknown one.
BP_API OptimizerSettings with_defaults(const std::string& kind, OptimizerSettings settings);
// The optimizer whose kind() is `kind`, over one group of `params`, with with_defaults(kind,
// settings). Throws bp::Error naming the known kinds on an unknown one, and as the optimizer's
// constructor on bad settings.
BP_API std::unique_ptr<Optimizer> make_optimizer(const std::string& kind,
                                                 std::vector<Tensor> params,
                                                 const OptimizerSettings& settings);

// ---- gradient clipping and weight penalties ----

// Scales every gradient of `params` by min(1, max_norm / (total + 1e-6)), where total is the
// norm_type-norm of all their gradients together (norm_type may be INFINITY), as PyTorch's
// clip_grad_norm_. Returns total (before clipping). Parameters without a gradient are skipped.
// Throws bp::Error unless max_norm >= 0 and norm_type > 0.
BP_API double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                             double norm_type = 2.0);
// Clamps every gradient element to [−clip_value, clip_value]. Requires clip_value >= 0.
BP_API void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

// Σ|w| over every element of `params`, as a differentiable scalar (0 for no parameters).
BP_API Tensor l1_penalty(const std::vector<Tensor>& params);
// Σw² over every element of `params`, as a differentiable scalar. λ·l2_penalty adds 2λ·w to each
// gradient, the same as weight_decay = 2λ.
BP_API Tensor l2_penalty(const std::vector<Tensor>& params);

}  // namespace bp::optim

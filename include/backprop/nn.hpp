// Modules: layers that own parameters and compose into networks.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/ops.hpp"
#include "backprop/random.hpp"
#include "backprop/tensor.hpp"

namespace bp::nn {

// Base of every layer. A module owns named parameters and named child modules; parameters() walks
// them in registration order, its own first, then each child's (so the order is stable and
// optimizers can rely on it). A tensor registered under several names (tied weights: a decoder
// that reuses its encoder's weight) is listed once, under its first name, in parameters(),
// named_parameters() and parameter_count(), so that an optimizer steps it once and a parameter
// file holds it once.
class BP_API Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules move (Sequential::add takes one by value) but do not copy: a copy would share the
  // parameters. clone() makes an independent one.
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Applies the module. Throws bp::Error on an input of the wrong shape.
  virtual Tensor forward(const Tensor& input) = 0;
  Tensor operator()(const Tensor& input) { return forward(input); }
  // A short description such as "Linear(784, 256)".
  virtual std::string name() const = 0;
  // Output shape for an input shape (without the batch dimension); throws on a wrong shape.
  virtual Shape output_shape(const Shape& input_shape) const { return input_shape; }
  // True when forward and backward may run on several threads at once on different inputs: they
  // write no state (no buffers, no random numbers) and their kernels allow it. The trainer then
  // splits each batch across threads. Containers: when all their children are. Default: false.
  virtual bool thread_safe_forward() const { return false; }

  std::vector<Tensor> parameters() const;
  // Names are dotted paths: "0.weight", "encoder.1.bias".
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  int64_t parameter_count() const;
  // State that is saved with the model but not trained (e.g. batch-norm running statistics), named
  // like parameters ("1.running_mean") and walked in registration order.
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // This module (named "") and every module below it, depth first in registration order, named by
  // dotted paths ("encoder", "encoder.1"); a module registered under several names is listed once.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  // Calls fn on every module of named_modules(), in that order (e.g. to re-initialise weights).
  void apply(const std::function<void(Module&)>& fn);

  // A deep copy: a module of the same type and settings with new parameters and buffers holding
  // the same values, and the same training mode; training one does not change the other. Built by
  // replicate() (below), whose parameters and buffers it then overwrites. Throws bp::Error when a
  // module in the tree does not override replicate(), or replicate() builds another structure.
  std::shared_ptr<Module> clone() const;

  // Training mode (the default) vs evaluation mode; propagates to children.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

 protected:
  // A new module of this one's type and settings, with its children made the same way (a
  // container clones the children it was given). Its parameters' values do not matter: clone()
  // copies them. A module meant to be cloned overrides it, e.g.
  //   return std::make_shared<MyNet>(hidden_, gen)   // any generator: the values are overwritten
  // The default throws bp::Error naming the module.
  virtual std::shared_ptr<Module> replicate() const;

  // Registers `value` as a trainable parameter (sets requires_grad; it must be a leaf) and returns
  // the stored handle: keep a copy of it (it shares the data). Registering a tensor already
  // registered, here or in another module, ties them (see above). Every register_* function throws
  // bp::Error naming `name` when it is empty, holds a '.', or is already a parameter, buffer or
  // child of this module, and when the value is undefined or null.
  Tensor& register_parameter(std::string name, Tensor value);
  // Registers a non-trainable tensor (requires_grad stays false) that the module updates in place;
  // keep a copy of the returned handle (it shares the data), as with register_parameter.
  Tensor& register_buffer(std::string name, Tensor value);
  // Registers a child module and returns it, with its own type:
  //   encoder_ = register_module("encoder", std::make_shared<Linear>(8, 3));
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    register_child(std::move(name), module);
    return module;
  }

 private:
  using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
  void register_child(std::string name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  // Appends this module's tensors in `which` and its children's, their names after `prefix`.
  void collect(NamedTensors& out, const std::string& prefix, NamedTensors Module::*which) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// The settings of a Linear layer.
struct LinearOptions {
  int64_t in = 0;   // input features (required)
  int64_t out = 0;  // output features (required)
  bool bias = true;
};

// y = x·Wᵀ + b with W of shape (out, in). Weights initialised like PyTorch:
// U(-1/√in, 1/√in) for both W and b. Throws bp::Error naming the field if a size is not positive.
class BP_API Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator());
  // Linear({.in = in, .out = out}).
  Linear(int64_t in, int64_t out, Generator& gen = default_generator())
      : Linear(LinearOptions{.in = in, .out = out}, gen) {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return true; }
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const LinearOptions& options() const { return options_; }
  int64_t in_features() const { return options_.in; }
  int64_t out_features() const { return options_.out; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  LinearOptions options_;
  Tensor weight_, bias_;
};

// An elementwise activation (activation.hpp lists them); nn::ReLU and the other classes below are
// activations of one kind each.
using bp::ActivationKind;
class BP_API Activation : public Module {
 public:
  // `parameter` is the unit's (the leaky_relu slope, the elu alpha, the softplus beta), its default
  // when absent; kinds without one ignore it. Throws bp::Error if the unit does not accept it.
  explicit Activation(ActivationKind kind, std::optional<float> parameter = std::nullopt);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  ActivationKind kind() const { return kind_; }
  float parameter() const { return parameter_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  ActivationKind kind_;
  float parameter_;
};

// One class per activation, generated from the list: Sigmoid, ReLU, LeakyReLU(slope = 0.01f),
// ELU(alpha = 1.0f), ...
#define BP_ACTIVATION_CLASS(name, Class)                                                     \
  class BP_API Class : public Activation {                                                   \
   public:                                                                                   \
    Class() : Activation(ActivationKind::name) {}                                            \
                                                                                             \
   protected:                                                                                \
    std::shared_ptr<Module> replicate() const override { return std::make_shared<Class>(); } \
  };
#define BP_ACTIVATION_CLASS_WITH(name, Class, param)                  \
  class BP_API Class : public Activation {                            \
   public:                                                            \
    explicit Class(float param = activation::name::default_parameter) \
        : Activation(ActivationKind::name, param) {}                  \
                                                                      \
   protected:                                                         \
    std::shared_ptr<Module> replicate() const override {              \
      return std::make_shared<Class>(parameter());                    \
    }                                                                 \
  };
BP_ACTIVATIONS(BP_ACTIVATION_CLASS, BP_ACTIVATION_CLASS_WITH)
#undef BP_ACTIVATION_CLASS
#undef BP_ACTIVATION_CLASS_WITH

// The activation class of `kind` (nn::ReLU for relu, ...), as the model spec builds it. Throws
// bp::Error as Activation's constructor.
BP_API std::shared_ptr<Activation> make_activation(ActivationKind kind,
                                                   std::optional<float> parameter = std::nullopt);

// Softmax or log-softmax over the last axis.
class BP_API Softmax : public Module {
 public:
  explicit Softmax(bool log = false) : log_(log) {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return log_ ? "LogSoftmax" : "Softmax"; }
  bool thread_safe_forward() const override { return true; }
  bool log() const { return log_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  bool log_;
};

// Flattens every dimension after the batch dimension.
class BP_API Flatten : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Flatten"; }
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return true; }

 protected:
  std::shared_ptr<Module> replicate() const override;
};

// Reshapes every sample (the dimensions after the batch dimension) to `shape`, keeping the order
// of the elements; one extent may be -1, inferred from the sample's size. The constructor throws
// bp::Error unless every extent is positive or -1 (at most one -1); forward() and output_shape()
// throw unless the sample's size fits.
class BP_API Reshape : public Module {
 public:
  explicit Reshape(Shape shape);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return true; }
  const Shape& shape() const { return shape_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  Shape shape_;
};

// Reorders the axes of every sample: output axis i is the sample's axis order[i] (0-based, counted
// after the batch dimension, which stays first). The constructor throws bp::Error unless `order`
// is a permutation of 0..k-1; forward() and output_shape() throw unless samples have k axes.
class BP_API Permute : public Module {
 public:
  explicit Permute(std::vector<int64_t> order);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return true; }
  const std::vector<int64_t>& order() const { return order_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  std::vector<int64_t> order_;
};

// Applies its children in order; children are named "0", "1", ...
class BP_API Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  Sequential& add(std::shared_ptr<Module> module);
  // Takes a module by value (moved in): net.add(nn::Linear(4, 8)).add(nn::ReLU()).
  template <class M>
  requires std::derived_from<M, Module> Sequential& add(M&& module) {
    return add(std::shared_ptr<Module>(std::make_shared<M>(std::move(module))));
  }
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const;

 protected:
  std::shared_ptr<Module> replicate() const override;
};

// A residual (skip) connection: y = x + body(x). body must keep the shape of its input.
class BP_API Residual : public Module {
 public:
  // Throws bp::Error if body is null.
  explicit Residual(std::shared_ptr<Module> body);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Residual"; }
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return body().thread_safe_forward(); }
  Module& body() const { return *children().front().second; }

 protected:
  std::shared_ptr<Module> replicate() const override;
};

// module.clone() with the module's own type: auto copy = nn::clone(conv).
template <class M>
requires std::derived_from<M, Module> std::shared_ptr<M> clone(const M& module) {
  return std::static_pointer_cast<M>(module.clone());
}

// The table the command line prints for a model: one row per layer (a Sequential's children, or
// the module itself) with its name, its output shape for samples of `input_shape` (without the
// batch dimension) and its parameter count, then the total. Throws bp::Error as output_shape.
BP_API std::string summary(const Module& module, const Shape& input_shape);

}  // namespace bp::nn

// Modules: layers that own parameters and compose into networks.
#pragma once

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
  virtual ~Module() = default;
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

  // Training mode (the default) vs evaluation mode; propagates to children.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

 protected:
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

// y = x·Wᵀ + b with W of shape (out, in). Weights initialised like PyTorch:
// U(-1/√in, 1/√in) for both W and b. Throws bp::Error if a size is not positive.
class BP_API Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override { return true; }
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

// An elementwise activation (activation.hpp lists them).
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

 private:
  ActivationKind kind_;
  float parameter_;
};
// One factory per activation: Sigmoid(), ReLU(), LeakyReLU(slope = 0.01f), ELU(alpha = 1.0f), ...
#define BP_ACTIVATION_MODULE(name, Module) BP_API std::shared_ptr<Activation> Module();
#define BP_ACTIVATION_MODULE_WITH(name, Module, param) \
  BP_API std::shared_ptr<Activation> Module(float param = activation::name::default_parameter);
BP_ACTIVATIONS(BP_ACTIVATION_MODULE, BP_ACTIVATION_MODULE_WITH)
#undef BP_ACTIVATION_MODULE
#undef BP_ACTIVATION_MODULE_WITH

// Softmax or log-softmax over the last axis.
class BP_API Softmax : public Module {
 public:
  explicit Softmax(bool log = false) : log_(log) {}
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return log_ ? "LogSoftmax" : "Softmax"; }
  bool thread_safe_forward() const override { return true; }
  bool log() const { return log_; }

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

 private:
  std::vector<int64_t> order_;
};

// Applies its children in order; children are named "0", "1", ...
class BP_API Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  Sequential& add(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input_shape) const override;
  bool thread_safe_forward() const override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const;
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
};

}  // namespace bp::nn

#include <cmath>

#include "backprop/error.hpp"
#include "backprop/init.hpp"
#include "backprop/nn.hpp"

namespace bp::nn {

// ---- Module ----

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out = parameters_;
  for (const auto& [child_name, child] : children_)
    for (auto& [name, p] : child->named_parameters()) out.emplace_back(child_name + "." + name, p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out = buffers_;
  for (const auto& [child_name, child] : children_)
    for (auto& [name, b] : child->named_buffers()) out.emplace_back(child_name + "." + name, b);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

Tensor& Module::register_parameter(std::string name, Tensor value) {
  BP_CHECK(value.defined(), "Module::register_parameter: parameter '{}' is undefined", name);
  value.set_requires_grad(true);
  parameters_.emplace_back(std::move(name), std::move(value));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor value) {
  BP_CHECK(value.defined(), "Module::register_buffer: buffer '{}' is undefined", name);
  buffers_.emplace_back(std::move(name), std::move(value));
  return buffers_.back().second;
}

void Module::register_module(std::string name, std::shared_ptr<Module> module) {
  BP_CHECK(module != nullptr, "Module::register_module: module '{}' is null", name);
  children_.emplace_back(std::move(name), std::move(module));
}

// ---- Linear ----

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen)
    : in_(in_features), out_(out_features) {
  BP_CHECK(in_features > 0 && out_features > 0,
           "Linear: sizes must be positive (got in={}, out={})", in_features, out_features);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
  weight_ = register_parameter("weight", Tensor::uniform({out_, in_}, -bound, bound, gen));
  if (bias) bias_ = register_parameter("bias", Tensor::uniform({out_}, -bound, bound, gen));
}

Tensor Linear::forward(const Tensor& input) {
  return linear(input, weight_, bias_);
}

std::string Linear::name() const {
  return fmt::format("Linear({}, {}{})", in_, out_, bias_.defined() ? "" : ", bias=false");
}

Shape Linear::output_shape(const Shape& input_shape) const {
  BP_CHECK(!input_shape.empty() && input_shape.back() == in_,
           "Linear({}, {}): expects inputs whose last dimension is {}, got {}", in_, out_, in_,
           to_string(input_shape));
  Shape out = input_shape;
  out.back() = out_;
  return out;
}

// ---- activations ----

namespace {
float default_parameter(ActivationKind kind) {
  return kind == ActivationKind::leaky_relu ? 0.01f : 1.0f;
}
}  // namespace

Activation::Activation(ActivationKind kind, std::optional<float> parameter)
    : kind_(kind), parameter_(parameter.value_or(default_parameter(kind))) {
  BP_CHECK(std::isfinite(parameter_), "Activation: parameter must be finite (got {})", parameter_);
  if (kind == ActivationKind::softplus)
    BP_CHECK(parameter_ > 0, "Softplus: beta must be positive (got {})", parameter_);
}

Tensor Activation::forward(const Tensor& x) {
  switch (kind_) {
    case ActivationKind::sigmoid:
      return sigmoid(x);
    case ActivationKind::tanh:
      return tanh(x);
    case ActivationKind::relu:
      return relu(x);
    case ActivationKind::leaky_relu:
      return leaky_relu(x, parameter_);
    case ActivationKind::elu:
      return elu(x, parameter_);
    case ActivationKind::selu:
      return selu(x);
    case ActivationKind::gelu:
      return gelu(x);
    case ActivationKind::softplus:
      return softplus(x, parameter_);
    case ActivationKind::silu:
      return silu(x);
  }
  fail("Activation: unknown kind");
}

std::string Activation::name() const {
  switch (kind_) {
    case ActivationKind::sigmoid:
      return "Sigmoid";
    case ActivationKind::tanh:
      return "Tanh";
    case ActivationKind::relu:
      return "ReLU";
    case ActivationKind::leaky_relu:
      return fmt::format("LeakyReLU({:g})", parameter_);
    case ActivationKind::elu:
      return fmt::format("ELU({:g})", parameter_);
    case ActivationKind::selu:
      return "SELU";
    case ActivationKind::gelu:
      return "GELU";
    case ActivationKind::softplus:
      return fmt::format("Softplus({:g})", parameter_);
    case ActivationKind::silu:
      return "SiLU";
  }
  return "Activation";
}

std::shared_ptr<Activation> Sigmoid() {
  return std::make_shared<Activation>(ActivationKind::sigmoid);
}
std::shared_ptr<Activation> Tanh() {
  return std::make_shared<Activation>(ActivationKind::tanh);
}
std::shared_ptr<Activation> ReLU() {
  return std::make_shared<Activation>(ActivationKind::relu);
}
std::shared_ptr<Activation> LeakyReLU(float slope) {
  return std::make_shared<Activation>(ActivationKind::leaky_relu, slope);
}
std::shared_ptr<Activation> ELU(float alpha) {
  return std::make_shared<Activation>(ActivationKind::elu, alpha);
}
std::shared_ptr<Activation> SELU() {
  return std::make_shared<Activation>(ActivationKind::selu);
}
std::shared_ptr<Activation> GELU() {
  return std::make_shared<Activation>(ActivationKind::gelu);
}
std::shared_ptr<Activation> Softplus(float beta) {
  return std::make_shared<Activation>(ActivationKind::softplus, beta);
}
std::shared_ptr<Activation> SiLU() {
  return std::make_shared<Activation>(ActivationKind::silu);
}

Tensor Softmax::forward(const Tensor& x) {
  return log_ ? log_softmax(x, -1) : softmax(x, -1);
}

// ---- Flatten ----

Tensor Flatten::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() >= 1, "Flatten: needs a batch dimension");
  return x.dim() == 1 ? x.reshape({x.size(0), 1}) : x.flatten(1);
}

Shape Flatten::output_shape(const Shape& input_shape) const {
  return {numel(input_shape)};
}

// ---- Sequential ----

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) add(std::move(m));
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, child] : children()) x = child->forward(x);
  return x;
}

bool Sequential::thread_safe_forward() const {
  for (const auto& [name, child] : children())
    if (!child->thread_safe_forward()) return false;
  return true;
}

Shape Sequential::output_shape(const Shape& input_shape) const {
  Shape s = input_shape;
  for (const auto& [name, child] : children()) s = child->output_shape(s);
  return s;
}

Module& Sequential::operator[](size_t i) const {
  BP_CHECK(i < size(), "Sequential: index {} out of range (size {})", i, size());
  return *children()[i].second;
}

// ---- Residual ----

Residual::Residual(std::shared_ptr<Module> body) {
  BP_CHECK(body != nullptr, "Residual: the body is null");
  register_module("body", std::move(body));
}

Tensor Residual::forward(const Tensor& input) {
  Tensor out = body().forward(input);
  BP_CHECK(out.shape() == input.shape(),
           "Residual: the body maps {} to {}; a residual block must keep the shape",
           to_string(input.shape()), to_string(out.shape()));
  return input + out;
}

Shape Residual::output_shape(const Shape& input_shape) const {
  Shape out = body().output_shape(input_shape);
  BP_CHECK(out == input_shape,
           "Residual: the body maps {} to {}; a residual block must keep the shape",
           to_string(input_shape), to_string(out));
  return out;
}

}  // namespace bp::nn

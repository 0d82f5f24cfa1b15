#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_set>

#include "backprop/error.hpp"
#include "backprop/init.hpp"
#include "backprop/nn.hpp"

namespace bp::nn {

// ---- Module ----

namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Drops every entry whose tensor an earlier entry holds (a tensor tied under several names keeps
// its first name), as PyTorch does: an optimizer must step a tied weight once.
NamedTensors without_repeats(NamedTensors named) {
  std::unordered_set<const void*> seen;
  std::erase_if(named,
                [&](const auto& entry) { return !seen.insert(entry.second.impl().get()).second; });
  return named;
}

}  // namespace

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  NamedTensors out;
  collect(out, "", &Module::parameters_);
  return without_repeats(std::move(out));
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  NamedTensors out;
  collect(out, "", &Module::buffers_);
  return without_repeats(std::move(out));
}

void Module::collect(NamedTensors& out, const std::string& prefix,
                     NamedTensors Module::*which) const {
  for (const auto& [name, t] : this->*which) out.emplace_back(prefix + name, t);
  for (const auto& [child_name, child] : children_)
    child->collect(out, prefix + child_name + ".", which);
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

// ---- walking the tree, clone ----

namespace {

// Appends `m` and the modules below it, depth first, each once (under its first name).
template <class M>
void walk(M* m, const std::string& name, std::unordered_set<const Module*>& seen,
          std::vector<std::pair<std::string, M*>>& out) {
  if (!seen.insert(m).second) return;
  out.emplace_back(name, m);
  for (const auto& [child_name, child] : m->children())
    walk<M>(child.get(), name.empty() ? child_name : name + "." + child_name, seen, out);
}

}  // namespace

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  std::unordered_set<const Module*> seen;
  walk<Module>(this, "", seen, out);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  std::unordered_set<const Module*> seen;
  walk<const Module>(this, "", seen, out);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, m] : named_modules()) fn(*m);
}

std::shared_ptr<Module> Module::replicate() const {
  throw Error(fmt::format("{}: clone() needs the module to override Module::replicate()", name()));
}

namespace {

// Copies the values of `from` into `to`, entry by entry; both must have the same names and shapes.
void copy_values(const NamedTensors& from, const NamedTensors& to, const std::string& who) {
  BP_CHECK(from.size() == to.size(), "{}: clone: replicate() made {} tensors where there are {}",
           who, to.size(), from.size());
  for (size_t i = 0; i < from.size(); ++i) {
    BP_CHECK(from[i].first == to[i].first && from[i].second.shape() == to[i].second.shape(),
             "{}: clone: replicate() made '{}' {} where there is '{}' {}", who, to[i].first,
             to_string(to[i].second.shape()), from[i].first, to_string(from[i].second.shape()));
    Tensor target = to[i].second;
    target.copy_(from[i].second);
  }
}

}  // namespace

std::shared_ptr<Module> Module::clone() const {
  std::shared_ptr<Module> copy = replicate();
  BP_CHECK(copy != nullptr, "{}: clone: replicate() returned null", name());
  {
    NoGradGuard no_grad;
    copy_values(named_parameters(), copy->named_parameters(), name());
    copy_values(named_buffers(), copy->named_buffers(), name());
  }
  const auto mine = named_modules();
  const auto theirs = copy->named_modules();
  BP_CHECK(mine.size() == theirs.size(), "{}: clone: replicate() made another structure", name());
  for (size_t i = 0; i < mine.size(); ++i) theirs[i].second->training_ = mine[i].second->training_;
  return copy;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  BP_CHECK_AS(ValueError, !name.empty() && name.find('.') == std::string::npos,
              "Module::register_{}: the name '{}' must be non-empty and without '.'", what, name);
  const auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  BP_CHECK_AS(ValueError, !taken(parameters_) && !taken(buffers_) && !taken(children_),
              "Module::register_{}: the name '{}' is already registered in {}", what, name,
              this->name());
}

Tensor& Module::register_parameter(std::string name, Tensor value) {
  check_new_name(name, "parameter");
  BP_CHECK_AS(ValueError, value.defined(),
              "Module::register_parameter: parameter '{}' is undefined", name);
  value.set_requires_grad(true);
  parameters_.emplace_back(std::move(name), std::move(value));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor value) {
  check_new_name(name, "buffer");
  BP_CHECK_AS(ValueError, value.defined(), "Module::register_buffer: buffer '{}' is undefined",
              name);
  buffers_.emplace_back(std::move(name), std::move(value));
  return buffers_.back().second;
}

void Module::register_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  BP_CHECK_AS(ValueError, module != nullptr, "Module::register_module: module '{}' is null", name);
  children_.emplace_back(std::move(name), std::move(module));
}

// ---- Linear ----

Linear::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
  const auto [in, out, bias] = options;
  BP_CHECK_AS(ValueError, in > 0 && out > 0, "Linear: sizes must be positive (got in={}, out={})",
              in, out);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  weight_ = register_parameter("weight", Tensor::uniform({out, in}, -bound, bound, gen));
  if (bias) bias_ = register_parameter("bias", Tensor::uniform({out}, -bound, bound, gen));
}

std::shared_ptr<Module> Linear::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<Linear>(options_, scratch);
}

Tensor Linear::forward(const Tensor& input) {
  return linear(input, weight_, bias_);
}

std::string Linear::name() const {
  return fmt::format("Linear({}, {}{})", options_.in, options_.out,
                     options_.bias ? "" : ", bias=false");
}

Shape Linear::output_shape(const Shape& input_shape) const {
  BP_CHECK_AS(ShapeError, !input_shape.empty() && input_shape.back() == options_.in,
              "{}: expects inputs whose last dimension is {}, got {}", name(), options_.in,
              to_string(input_shape));
  Shape out = input_shape;
  out.back() = options_.out;
  return out;
}

// ---- activations ----

Activation::Activation(ActivationKind kind, std::optional<float> parameter)
    : kind_(kind), parameter_(parameter.value_or(activation_info(kind).default_parameter)) {
  check_activation_parameter(kind, parameter_);
}

Tensor Activation::forward(const Tensor& x) {
  return activate(x, kind_, parameter_);
}

std::string Activation::name() const {
  const ActivationInfo& a = activation_info(kind_);
  if (a.parameter.empty()) return std::string(a.module);
  return fmt::format("{}({:g})", a.module, parameter_);
}

std::shared_ptr<Module> Activation::replicate() const {
  return std::make_shared<Activation>(kind_, parameter_);
}

std::shared_ptr<Activation> make_activation(ActivationKind kind, std::optional<float> parameter) {
  const float p = parameter.value_or(activation_info(kind).default_parameter);
  switch (kind) {
#define BP_ACTIVATION_CASE(name, Class) \
  case ActivationKind::name:            \
    return std::make_shared<Class>();
#define BP_ACTIVATION_CASE_WITH(name, Class, param) \
  case ActivationKind::name:                        \
    return std::make_shared<Class>(p);
    BP_ACTIVATIONS(BP_ACTIVATION_CASE, BP_ACTIVATION_CASE_WITH)
#undef BP_ACTIVATION_CASE
#undef BP_ACTIVATION_CASE_WITH
  }
  return std::make_shared<Activation>(kind, p);
}

Tensor Softmax::forward(const Tensor& x) {
  return log_ ? log_softmax(x, -1) : softmax(x, -1);
}

std::shared_ptr<Module> Softmax::replicate() const {
  return std::make_shared<Softmax>(log_);
}

// ---- Flatten ----

Tensor Flatten::forward(const Tensor& x) {
  BP_CHECK_AS(ShapeError, x.defined() && x.dim() >= 1, "Flatten: needs a batch dimension");
  return x.dim() == 1 ? x.reshape({x.size(0), 1}) : x.flatten(1);
}

Shape Flatten::output_shape(const Shape& input_shape) const {
  return {numel(input_shape)};
}

std::shared_ptr<Module> Flatten::replicate() const {
  return std::make_shared<Flatten>();
}

// ---- Reshape, Permute ----

namespace {

// `shape` with its -1 replaced by what makes it hold `count` elements; throws unless it can.
Shape resolve_sample_shape(const Shape& shape, const Shape& input, const std::string& layer) {
  const int64_t count = numel(input);
  Shape out = shape;
  int64_t known = 1;
  auto infer = out.end();
  for (auto it = out.begin(); it != out.end(); ++it)
    if (*it == -1)
      infer = it;
    else
      known *= *it;
  if (infer != out.end() && count % known == 0) *infer = count / known;
  BP_CHECK(numel(out) == count, "{}: cannot reshape samples of shape {} ({} elements)", layer,
           to_string(input), count);
  return out;
}

}  // namespace

Reshape::Reshape(Shape shape) : shape_(std::move(shape)) {
  BP_CHECK(!shape_.empty(), "Reshape: needs at least one extent");
  int64_t inferred = 0;
  for (int64_t e : shape_) {
    BP_CHECK(e > 0 || e == -1, "Reshape: extents must be positive or -1, got {}",
             to_string(shape_));
    inferred += e == -1;
  }
  BP_CHECK(inferred <= 1, "Reshape: at most one extent may be -1, got {}", to_string(shape_));
}

Tensor Reshape::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() >= 1, "{}: needs a batch dimension", name());
  Shape target = output_shape(Shape(x.shape().begin() + 1, x.shape().end()));
  target.insert(target.begin(), x.size(0));
  return reshape(x, target);
}

std::string Reshape::name() const {
  return fmt::format("Reshape({})", fmt::join(shape_, ", "));
}

Shape Reshape::output_shape(const Shape& input_shape) const {
  return resolve_sample_shape(shape_, input_shape, name());
}

std::shared_ptr<Module> Reshape::replicate() const {
  return std::make_shared<Reshape>(shape_);
}

std::shared_ptr<Module> Permute::replicate() const {
  return std::make_shared<Permute>(order_);
}

Permute::Permute(std::vector<int64_t> order) : order_(std::move(order)) {
  BP_CHECK(!order_.empty(), "Permute: needs at least one axis");
  std::vector<bool> seen(order_.size(), false);
  for (int64_t a : order_) {
    const bool fits = a >= 0 && a < static_cast<int64_t>(order_.size());
    BP_CHECK(fits && !seen[static_cast<size_t>(a)],
             "Permute: the order must list each axis 0..{} once, got ({})", order_.size() - 1,
             fmt::join(order_, ", "));
    seen[static_cast<size_t>(a)] = true;
  }
}

Tensor Permute::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() >= 1, "{}: needs a batch dimension", name());
  output_shape(Shape(x.shape().begin() + 1, x.shape().end()));  // checks the axes
  std::vector<int64_t> order{0};
  for (int64_t a : order_) order.push_back(a + 1);
  return permute(x, order);
}

std::string Permute::name() const {
  return fmt::format("Permute({})", fmt::join(order_, ", "));
}

Shape Permute::output_shape(const Shape& input_shape) const {
  BP_CHECK(input_shape.size() == order_.size(), "{}: expects samples with {} axes, got {}", name(),
           order_.size(), to_string(input_shape));
  Shape out;
  for (int64_t a : order_) out.push_back(input_shape[static_cast<size_t>(a)]);
  return out;
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
  BP_CHECK_AS(ValueError, i < size(), "Sequential: index {} out of range (size {})", i, size());
  return *children()[i].second;
}

std::shared_ptr<Module> Sequential::replicate() const {
  auto copy = std::make_shared<Sequential>();
  for (const auto& [name, child] : children()) copy->add(child->clone());
  return copy;
}

// ---- Residual ----

Residual::Residual(std::shared_ptr<Module> body) {
  BP_CHECK(body != nullptr, "Residual: the body is null");
  register_module("body", std::move(body));
}

Tensor Residual::forward(const Tensor& input) {
  Tensor out = body().forward(input);
  BP_CHECK_AS(ShapeError, out.shape() == input.shape(),
              "Residual: the body maps {} to {}; a residual block must keep the shape",
              to_string(input.shape()), to_string(out.shape()));
  return input + out;
}

std::shared_ptr<Module> Residual::replicate() const {
  return std::make_shared<Residual>(body().clone());
}

Shape Residual::output_shape(const Shape& input_shape) const {
  Shape out = body().output_shape(input_shape);
  BP_CHECK_AS(ShapeError, out == input_shape,
              "Residual: the body maps {} to {}; a residual block must keep the shape",
              to_string(input_shape), to_string(out));
  return out;
}

// ---- summary ----

std::string summary(const Module& module, const Shape& input_shape) {
  std::vector<const Module*> rows;
  if (dynamic_cast<const Sequential*>(&module))
    for (const auto& [name, child] : module.children()) rows.push_back(child.get());
  else
    rows.push_back(&module);
  // The columns are as wide as their widest entry (at least 28 and 16), so that long names align.
  std::vector<std::array<std::string, 3>> cells;
  Shape shape = input_shape;
  size_t name_width = 28, shape_width = 16;
  for (const Module* layer : rows) {
    shape = layer->output_shape(shape);
    cells.push_back({layer->name(), to_string(shape), std::to_string(layer->parameter_count())});
    name_width = std::max(name_width, cells.back()[0].size());
    shape_width = std::max(shape_width, cells.back()[1].size());
  }
  std::string out = fmt::format("{:<{}} {:<{}} {:>12}\n", "Layer", name_width, "Output shape",
                                shape_width, "Params");
  for (const auto& [name, out_shape, params] : cells)
    out += fmt::format("{:<{}} {:<{}} {:>12}\n", name, name_width, out_shape, shape_width, params);
  out += fmt::format("Total parameters: {} (input {})\n", module.parameter_count(),
                     to_string(input_shape));
  return out;
}

}  // namespace bp::nn

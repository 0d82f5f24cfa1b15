#include "backprop/tensor.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>

#include "backprop/error.hpp"
#include "backprop/ops.hpp"
#include "core/tensor_impl.hpp"

namespace bp {

Tensor make_tensor(const Shape& shape) {
  for (int64_t d : shape)
    BP_CHECK_AS(ShapeError, d >= 0, "tensor: negative extent in shape {}", to_string(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->count = numel(shape);
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(impl->count));
  return Tensor(std::move(impl));
}

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  BP_CHECK(impl != nullptr, "Tensor::{}: the tensor is undefined", what);
  return *impl;
}
}  // namespace

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, bool requires_grad) {
  Tensor t = make_tensor(shape);
  t.impl_->requires_grad = requires_grad;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, bool requires_grad) {
  return full(shape, 0.0f, requires_grad);
}

Tensor Tensor::ones(const Shape& shape, bool requires_grad) {
  return full(shape, 1.0f, requires_grad);
}

Tensor Tensor::full(const Shape& shape, float value, bool requires_grad) {
  Tensor t = empty(shape, requires_grad);
  std::fill_n(t.data(), t.numel(), value);  // a new tensor starts at version 0
  return t;
}

Tensor Tensor::scalar(float value, bool requires_grad) {
  return full({}, value, requires_grad);
}

Tensor Tensor::from_data(std::span<const float> values, const Shape& shape, bool requires_grad) {
  Tensor t = empty(shape, requires_grad);
  BP_CHECK_AS(ShapeError, static_cast<int64_t>(values.size()) == t.numel(),
              "Tensor::from_data: {} values given for shape {} ({} elements)", values.size(),
              bp::to_string(shape), t.numel());
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::from_data(std::initializer_list<float> values, const Shape& shape,
                         bool requires_grad) {
  return from_data(std::span<const float>(values.begin(), values.size()), shape, requires_grad);
}

Tensor Tensor::arange(float start, float end, float step) {
  BP_CHECK(step != 0.0f && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
           "Tensor::arange: needs finite bounds and a non-zero step (got {}, {}, {})", start, end,
           step);
  const double steps = (static_cast<double>(end) - start) / step;
  BP_CHECK(steps >= 0, "Tensor::arange: step {} never reaches {} from {}", step, end, start);
  const double count = std::ceil(steps);
  BP_CHECK(count < 1e9, "Tensor::arange: {} elements is too many", count);
  auto n = static_cast<int64_t>(count);
  Tensor t = empty({n});
  for (int64_t i = 0; i < n; ++i)
    t.data()[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return t;
}

Tensor Tensor::uniform(const Shape& shape, float low, float high, Generator& gen,
                       bool requires_grad) {
  BP_CHECK(low <= high, "Tensor::uniform: low ({}) must not exceed high ({})", low, high);
  Tensor t = empty(shape, requires_grad);
  for (float& v : t.values()) v = gen.uniform(low, high);
  return t;
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Generator& gen,
                      bool requires_grad) {
  BP_CHECK(stddev >= 0.0f, "Tensor::normal: stddev must be non-negative (got {})", stddev);
  Tensor t = empty(shape, requires_grad);
  for (float& v : t.values()) v = gen.normal(mean, stddev);
  return t;
}

// ---- inspection ----

const Shape& Tensor::shape() const {
  return checked(impl_, "shape").shape;
}
int64_t Tensor::numel() const {
  return checked(impl_, "numel").count;
}

int64_t Tensor::size(int64_t d) const {
  return shape()[static_cast<size_t>(normalize_axis(d, dim(), "Tensor::size"))];
}

float* Tensor::data() {
  return checked(impl_, "data").data();
}
const float* Tensor::data() const {
  return checked(impl_, "data").data();
}
std::span<float> Tensor::values() {
  return {data(), static_cast<size_t>(numel())};
}
std::span<const float> Tensor::values() const {
  return {data(), static_cast<size_t>(numel())};
}
std::vector<float> Tensor::to_vector() const {
  return {values().begin(), values().end()};
}

float Tensor::item() const {
  BP_CHECK_AS(ShapeError, numel() == 1, "Tensor::item: needs a one-element tensor, got shape {}",
              bp::to_string(shape()));
  return data()[0];
}

namespace {
int64_t flat_index(const Shape& shape, std::initializer_list<int64_t> index) {
  BP_CHECK_AS(ShapeError, index.size() == shape.size(),
              "Tensor::at: {} indices for a tensor of shape {}", index.size(), to_string(shape));
  int64_t flat = 0;
  size_t d = 0;
  for (int64_t i : index) {
    BP_CHECK_AS(ValueError, i >= 0 && i < shape[d],
                "Tensor::at: index {} out of range for dimension {} of shape {}", i, d,
                to_string(shape));
    flat = flat * shape[d] + i;
    ++d;
  }
  return flat;
}
}  // namespace

float& Tensor::at(std::initializer_list<int64_t> index) {
  return data()[flat_index(shape(), index)];
}
float Tensor::at(std::initializer_list<int64_t> index) const {
  return data()[flat_index(shape(), index)];
}

// ---- autograd ----

bool Tensor::requires_grad() const {
  return checked(impl_, "requires_grad").requires_grad;
}

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  checked(impl_, "set_requires_grad");
  BP_CHECK(impl_->grad_fn == nullptr,
           "Tensor::set_requires_grad: only leaf tensors can change requires_grad; use detach()");
  impl_->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  return checked(impl_, "is_leaf").grad_fn == nullptr;
}

Tensor Tensor::grad() const {
  return Tensor(checked(impl_, "grad").grad);
}

void Tensor::zero_grad() {
  if (checked(impl_, "zero_grad").grad) Tensor(impl_->grad).fill_(0.0f);
}

void Tensor::clear_grad() {
  checked(impl_, "clear_grad");
  impl_->grad.reset();
}

Tensor& Tensor::retain_grad() {
  checked(impl_, "retain_grad");
  BP_CHECK(impl_->requires_grad, "Tensor::retain_grad: the tensor does not require a gradient");
  impl_->retains_grad = true;
  return *this;
}

void Tensor::backward(bool retain_graph) const {
  BP_CHECK_AS(
      ShapeError, numel() == 1,
      "Tensor::backward: without an explicit gradient the tensor must have one element, got "
      "shape {}",
      bp::to_string(shape()));
  autograd::run_backward(*this, Tensor::ones(shape()), retain_graph);
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  checked(impl_, "backward");
  BP_CHECK_AS(ShapeError, gradient.defined() && gradient.shape() == shape(),
              "Tensor::backward: gradient of shape {} given for a tensor of shape {}",
              gradient.defined() ? bp::to_string(gradient.shape()) : "undefined",
              bp::to_string(shape()));
  autograd::run_backward(*this, gradient, retain_graph);
}

Tensor Tensor::detach() const {
  const TensorImpl& self = checked(impl_, "detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = self.storage;
  impl->offset = self.offset;
  impl->shape = self.shape;
  impl->count = self.count;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor t = make_tensor(shape());
  std::copy_n(data(), numel(), t.data());
  return t;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  return checked(impl_, "grad_fn").grad_fn;
}

uint64_t Tensor::version() const {
  return checked(impl_, "version").storage->version;
}

void Tensor::bump_version() {
  ++checked(impl_, "bump_version").storage->version;
}

Tensor& Tensor::fill_(float value) {
  std::fill_n(data(), numel(), value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& other) {
  BP_CHECK_AS(ShapeError, other.defined() && other.shape() == shape(),
              "Tensor::copy_: source has shape {}, destination {}",
              other.defined() ? bp::to_string(other.shape()) : "undefined", bp::to_string(shape()));
  std::memmove(data(), other.data(), static_cast<size_t>(numel()) * sizeof(float));
  bump_version();
  return *this;
}

Tensor Tensor::reshape(const Shape& shape) const {
  return bp::reshape(*this, shape);
}
Tensor Tensor::flatten(int64_t start_dim) const {
  return bp::flatten(*this, start_dim);
}

// ---- printing ----

namespace {
void print_recursive(std::ostringstream& os, const float* data, const Shape& shape, size_t dim,
                     int64_t& offset, int indent) {
  if (dim == shape.size()) {
    os << fmt::format("{:.6g}", data[offset++]);
    return;
  }
  os << '[';
  for (int64_t i = 0; i < shape[dim]; ++i) {
    if (i > 0) {
      os << ',';
      if (dim + 1 < shape.size())
        os << '\n' << std::string(static_cast<size_t>(indent + 1), ' ');
      else
        os << ' ';
    }
    // Long dimensions are elided in the middle.
    if (shape[dim] > 12 && i == 6) {
      os << "...";
      int64_t skip = shape[dim] - 12;
      offset += skip * numel(Shape(shape.begin() + static_cast<long>(dim) + 1, shape.end()));
      i += skip - 1;
      continue;
    }
    print_recursive(os, data, shape, dim + 1, offset, indent + 1);
  }
  os << ']';
}
}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(";
  int64_t offset = 0;
  print_recursive(os, data(), shape(), 0, offset, 7);
  os << ", shape=" << bp::to_string(shape());
  if (requires_grad()) os << ", requires_grad";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.to_string();
}

bool allclose(const Tensor& a, const Tensor& b, float rtol, float atol) {
  if (a.shape() != b.shape()) return false;
  const float* pa = a.data();
  const float* pb = b.data();
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (!(std::fabs(pa[i] - pb[i]) <= atol + rtol * std::fabs(pb[i]))) return false;
  }
  return true;
}

// ---- grad mode and threads ----

namespace {
thread_local bool grad_mode = true;
}

bool grad_enabled() {
  return grad_mode;
}
NoGradGuard::NoGradGuard() : previous_(grad_mode) {
  grad_mode = false;
}
NoGradGuard::~NoGradGuard() {
  grad_mode = previous_;
}

void set_num_threads(int threads) {
  BP_CHECK(threads >= 0 && threads <= 1024, "set_num_threads: {} is not a thread count", threads);
  omp_set_num_threads(threads == 0 ? omp_get_num_procs() : threads);
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace bp

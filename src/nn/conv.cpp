// Convolution and pooling modules: thin owners of weights and arguments around the ops in
// ops/conv.cpp, plus the output-shape arithmetic that model specs need before any data flows.
#include <cmath>

#include "backprop/conv.hpp"
#include "backprop/error.hpp"
#include "ops/conv_args.hpp"

namespace bp::nn {

namespace {

// Checks that a spec-level input shape (without the batch) is (C, H, W).
void check_chw(const std::string& layer, const Shape& in) {
  BP_CHECK_AS(ShapeError, in.size() == 3,
              "{}: expects inputs of shape (C, H, W), got {} (a flattened or 1-D input needs a "
              "reshape first)",
              layer, to_string(in));
}

// The shape an op produces for one sample: runs the op's own checks on an empty batch, so
// modules and ops can never disagree about sizes or about what is valid.
template <typename Op>
Shape shape_of(const std::string& layer, const Shape& in, Op op) {
  check_chw(layer, in);
  NoGradGuard no_grad;
  Tensor out = op(Tensor::empty({0, in[0], in[1], in[2]}));
  return Shape(out.shape().begin() + 1, out.shape().end());
}

std::string pair_arg(const char* key, Size2d v, Size2d fallback) {
  return v == fallback ? std::string() : fmt::format(", {}={}", key, to_string(v));
}

// PyTorch's initialisation of convolutions: U(-b, b) with b = 1/√fan_in.
Tensor uniform_init(const Shape& shape, int64_t fan_in, Generator& gen) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  return Tensor::uniform(shape, -bound, bound, gen);
}

}  // namespace

// ---- Conv2d ----

Conv2d::Conv2d(const Conv2dOptions& options, Generator& gen) : options_(options) {
  const Conv2dOptions& o = options_;
  ops::check_conv2d_args("Conv2d", {.in_channels = o.in,
                                    .out_channels = o.out,
                                    .kernel = o.kernel,
                                    .stride = o.stride,
                                    .padding = o.padding,
                                    .dilation = o.dilation,
                                    .groups = o.groups});
  const int64_t fan_in = o.in / o.groups * o.kernel.h * o.kernel.w;
  weight_ = register_parameter(
      "weight", uniform_init({o.out, o.in / o.groups, o.kernel.h, o.kernel.w}, fan_in, gen));
  if (o.bias) bias_ = register_parameter("bias", uniform_init({o.out}, fan_in, gen));
}

Tensor Conv2d::forward(const Tensor& input) {
  const Conv2dOptions& o = options_;
  return conv2d(input, weight_, bias_, o.stride, o.padding, o.dilation, o.groups);
}

std::string Conv2d::name() const {
  const Conv2dOptions& o = options_;
  return fmt::format("Conv2d({}, {}, kernel={}{}{}{}{}{})", o.in, o.out, to_string(o.kernel),
                     pair_arg("stride", o.stride, 1), pair_arg("padding", o.padding, 0),
                     pair_arg("dilation", o.dilation, 1),
                     o.groups == 1 ? "" : fmt::format(", groups={}", o.groups),
                     o.bias ? "" : ", bias=false");
}

Shape Conv2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    const Conv2dOptions& o = options_;
    return conv2d(x, weight_, bias_, o.stride, o.padding, o.dilation, o.groups);
  });
}

std::shared_ptr<Module> Conv2d::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<Conv2d>(options_, scratch);
}

// ---- ConvTranspose2d ----

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dOptions& options, Generator& gen)
    : options_(options) {
  const ConvTranspose2dOptions& o = options_;
  ops::check_conv_transpose2d_args("ConvTranspose2d", {.in_channels = o.in,
                                                       .out_channels = o.out,
                                                       .kernel = o.kernel,
                                                       .stride = o.stride,
                                                       .padding = o.padding,
                                                       .output_padding = o.output_padding,
                                                       .dilation = o.dilation,
                                                       .groups = o.groups});
  // PyTorch computes fan_in from the weight's second axis: out/groups·kH·kW.
  const int64_t fan_in = o.out / o.groups * o.kernel.h * o.kernel.w;
  weight_ = register_parameter(
      "weight", uniform_init({o.in, o.out / o.groups, o.kernel.h, o.kernel.w}, fan_in, gen));
  if (o.bias) bias_ = register_parameter("bias", uniform_init({o.out}, fan_in, gen));
}

Tensor ConvTranspose2d::forward(const Tensor& input) {
  const ConvTranspose2dOptions& o = options_;
  return conv_transpose2d(input, weight_, bias_, o.stride, o.padding, o.output_padding, o.dilation,
                          o.groups);
}

std::string ConvTranspose2d::name() const {
  const ConvTranspose2dOptions& o = options_;
  return fmt::format(
      "ConvTranspose2d({}, {}, kernel={}{}{}{}{}{}{})", o.in, o.out, to_string(o.kernel),
      pair_arg("stride", o.stride, 1), pair_arg("padding", o.padding, 0),
      pair_arg("output_padding", o.output_padding, 0), pair_arg("dilation", o.dilation, 1),
      o.groups == 1 ? "" : fmt::format(", groups={}", o.groups), o.bias ? "" : ", bias=false");
}

Shape ConvTranspose2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    const ConvTranspose2dOptions& o = options_;
    return conv_transpose2d(x, weight_, bias_, o.stride, o.padding, o.output_padding, o.dilation,
                            o.groups);
  });
}

std::shared_ptr<Module> ConvTranspose2d::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<ConvTranspose2d>(options_, scratch);
}

// ---- pooling ----

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options) : options_(options) {
  ops::check_pool2d_args("MaxPool2d", kernel(), stride(), padding());
}

Tensor MaxPool2d::forward(const Tensor& input) {
  return max_pool2d(input, kernel(), stride(), padding());
}

std::string MaxPool2d::name() const {
  return fmt::format("MaxPool2d(kernel={}{}{})", to_string(kernel()),
                     pair_arg("stride", stride(), kernel()), pair_arg("padding", padding(), 0));
}

Shape MaxPool2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape,
                  [this](const Tensor& x) { return max_pool2d(x, kernel(), stride(), padding()); });
}

std::shared_ptr<Module> MaxPool2d::replicate() const {
  return std::make_shared<MaxPool2d>(options_);
}

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options) : options_(options) {
  ops::check_pool2d_args("AvgPool2d", kernel(), stride(), padding());
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return avg_pool2d(input, kernel(), stride(), padding(), count_include_pad());
}

std::string AvgPool2d::name() const {
  return fmt::format("AvgPool2d(kernel={}{}{}{})", to_string(kernel()),
                     pair_arg("stride", stride(), kernel()), pair_arg("padding", padding(), 0),
                     count_include_pad() ? "" : ", count_include_pad=false");
}

Shape AvgPool2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    return avg_pool2d(x, kernel(), stride(), padding(), count_include_pad());
  });
}

std::shared_ptr<Module> AvgPool2d::replicate() const {
  return std::make_shared<AvgPool2d>(options_);
}

Tensor GlobalAvgPool::forward(const Tensor& input) {
  return global_avg_pool(input);
}

Shape GlobalAvgPool::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [](const Tensor& x) { return global_avg_pool(x); });
}

std::shared_ptr<Module> GlobalAvgPool::replicate() const {
  return std::make_shared<GlobalAvgPool>();
}

}  // namespace bp::nn

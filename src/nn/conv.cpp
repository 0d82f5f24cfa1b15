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

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2d kernel, Size2d stride,
               Size2d padding, Size2d dilation, int64_t groups, bool bias, Generator& gen)
    : in_(in_channels),
      out_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      dilation_(dilation),
      groups_(groups) {
  ops::check_conv2d_args("Conv2d", {.in_channels = in_channels,
                                    .out_channels = out_channels,
                                    .kernel = kernel,
                                    .stride = stride,
                                    .padding = padding,
                                    .dilation = dilation,
                                    .groups = groups});
  const int64_t fan_in = in_channels / groups * kernel.h * kernel.w;
  weight_ = register_parameter("weight",
                               uniform_init({out_, in_ / groups, kernel.h, kernel.w}, fan_in, gen));
  if (bias) bias_ = register_parameter("bias", uniform_init({out_}, fan_in, gen));
}

Tensor Conv2d::forward(const Tensor& input) {
  return conv2d(input, weight_, bias_, stride_, padding_, dilation_, groups_);
}

std::string Conv2d::name() const {
  return fmt::format("Conv2d({}, {}, kernel={}{}{}{}{}{})", in_, out_, to_string(kernel_),
                     pair_arg("stride", stride_, 1), pair_arg("padding", padding_, 0),
                     pair_arg("dilation", dilation_, 1),
                     groups_ == 1 ? "" : fmt::format(", groups={}", groups_),
                     bias_.defined() ? "" : ", bias=false");
}

Shape Conv2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    return conv2d(x, weight_, bias_, stride_, padding_, dilation_, groups_);
  });
}

// ---- ConvTranspose2d ----

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, Size2d kernel,
                                 Size2d stride, Size2d padding, Size2d output_padding,
                                 Size2d dilation, int64_t groups, bool bias, Generator& gen)
    : in_(in_channels),
      out_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      output_padding_(output_padding),
      dilation_(dilation),
      groups_(groups) {
  ops::check_conv_transpose2d_args("ConvTranspose2d", {.in_channels = in_channels,
                                                       .out_channels = out_channels,
                                                       .kernel = kernel,
                                                       .stride = stride,
                                                       .padding = padding,
                                                       .output_padding = output_padding,
                                                       .dilation = dilation,
                                                       .groups = groups});
  // PyTorch computes fan_in from the weight's second axis: out/groups·kH·kW.
  const int64_t fan_in = out_channels / groups * kernel.h * kernel.w;
  weight_ = register_parameter("weight",
                               uniform_init({in_, out_ / groups, kernel.h, kernel.w}, fan_in, gen));
  if (bias) bias_ = register_parameter("bias", uniform_init({out_}, fan_in, gen));
}

Tensor ConvTranspose2d::forward(const Tensor& input) {
  return conv_transpose2d(input, weight_, bias_, stride_, padding_, output_padding_, dilation_,
                          groups_);
}

std::string ConvTranspose2d::name() const {
  return fmt::format(
      "ConvTranspose2d({}, {}, kernel={}{}{}{}{}{}{})", in_, out_, to_string(kernel_),
      pair_arg("stride", stride_, 1), pair_arg("padding", padding_, 0),
      pair_arg("output_padding", output_padding_, 0), pair_arg("dilation", dilation_, 1),
      groups_ == 1 ? "" : fmt::format(", groups={}", groups_),
      bias_.defined() ? "" : ", bias=false");
}

Shape ConvTranspose2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    return conv_transpose2d(x, weight_, bias_, stride_, padding_, output_padding_, dilation_,
                            groups_);
  });
}

// ---- pooling ----

MaxPool2d::MaxPool2d(Size2d kernel, std::optional<Size2d> stride, Size2d padding)
    : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding) {
  ops::check_pool2d_args("MaxPool2d", kernel_, stride_, padding_);
}

Tensor MaxPool2d::forward(const Tensor& input) {
  return max_pool2d(input, kernel_, stride_, padding_);
}

std::string MaxPool2d::name() const {
  return fmt::format("MaxPool2d(kernel={}{}{})", to_string(kernel_),
                     pair_arg("stride", stride_, kernel_), pair_arg("padding", padding_, 0));
}

Shape MaxPool2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape,
                  [this](const Tensor& x) { return max_pool2d(x, kernel_, stride_, padding_); });
}

AvgPool2d::AvgPool2d(Size2d kernel, std::optional<Size2d> stride, Size2d padding,
                     bool count_include_pad)
    : kernel_(kernel),
      stride_(stride.value_or(kernel)),
      padding_(padding),
      count_include_pad_(count_include_pad) {
  ops::check_pool2d_args("AvgPool2d", kernel_, stride_, padding_);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return avg_pool2d(input, kernel_, stride_, padding_, count_include_pad_);
}

std::string AvgPool2d::name() const {
  return fmt::format("AvgPool2d(kernel={}{}{}{})", to_string(kernel_),
                     pair_arg("stride", stride_, kernel_), pair_arg("padding", padding_, 0),
                     count_include_pad_ ? "" : ", count_include_pad=false");
}

Shape AvgPool2d::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [this](const Tensor& x) {
    return avg_pool2d(x, kernel_, stride_, padding_, count_include_pad_);
  });
}

Tensor GlobalAvgPool::forward(const Tensor& input) {
  return global_avg_pool(input);
}

Shape GlobalAvgPool::output_shape(const Shape& input_shape) const {
  return shape_of(name(), input_shape, [](const Tensor& x) { return global_avg_pool(x); });
}

}  // namespace bp::nn

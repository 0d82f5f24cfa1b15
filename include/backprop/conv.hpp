// Convolution and pooling over (N, C, H, W) tensors: the ops (differentiable, recorded on the
// autograd graph) and the modules that own their weights. Output sizes follow PyTorch (floor
// division): out = (in + 2·padding - dilation·(kernel - 1) - 1) / stride + 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/random.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// A (height, width) pair; one number means the same value for both.
struct BP_API Size2d {
  int64_t h = 0;
  int64_t w = 0;
  constexpr Size2d(int64_t both) : h(both), w(both) {}  // NOLINT: implicit by design
  constexpr Size2d(int64_t height, int64_t width) : h(height), w(width) {}
  friend constexpr bool operator==(const Size2d&, const Size2d&) = default;
};
BP_API std::string to_string(Size2d size);

// ---- ops ----

// 2-D cross-correlation (what deep learning calls convolution) of x (N, C, H, W) with weight
// (O, C/groups, kH, kW), plus bias (O) when defined. Returns (N, O, OH, OW).
// Requires stride and dilation >= 1, padding >= 0, groups >= 1 dividing both C and O, and a dilated
// kernel no larger than the padded input. Throws bp::Error naming the shapes otherwise.
BP_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                     Size2d stride = 1, Size2d padding = 0, Size2d dilation = 1,
                     int64_t groups = 1);

// The transpose (adjoint) of conv2d with respect to its input, also called deconvolution: x
// (N, C, H, W) with weight (C, O/groups, kH, kW) and bias (O) gives (N, O, OH, OW) where
// OH = (H - 1)·stride - 2·padding + dilation·(kH - 1) + output_padding + 1.
// Requires output_padding < stride or < dilation (per axis), and a positive output size, besides
// conv2d's requirements. Throws bp::Error otherwise.
BP_API Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                               Size2d stride = 1, Size2d padding = 0, Size2d output_padding = 0,
                               Size2d dilation = 1, int64_t groups = 1);

// Maximum over each kernel window of x (N, C, H, W); padding counts as -infinity. `stride`
// defaults to the kernel. The gradient flows to the position of the maximum (the first one on a
// tie). Requires kernel and stride >= 1, 0 <= padding <= kernel / 2 and a window no larger than
// the padded input. Throws bp::Error otherwise.
BP_API Tensor max_pool2d(const Tensor& x, Size2d kernel,
                         std::optional<Size2d> stride = std::nullopt, Size2d padding = 0);

// Mean over each kernel window of x (N, C, H, W). With count_include_pad (PyTorch's default) the
// zero padding counts in the divisor (always kH·kW); without it only real elements count.
// Requirements and errors as for max_pool2d.
BP_API Tensor avg_pool2d(const Tensor& x, Size2d kernel,
                         std::optional<Size2d> stride = std::nullopt, Size2d padding = 0,
                         bool count_include_pad = true);

// Mean over the spatial axes: (N, C, H, W) -> (N, C). Requires H, W >= 1.
BP_API Tensor global_avg_pool(const Tensor& x);

// ---- modules ----
namespace nn {

// The settings of a Conv2d layer: Conv2d({.in = 1, .out = 8, .kernel = 3, .padding = 1}).
struct Conv2dOptions {
  int64_t in = 0;     // input channels (required)
  int64_t out = 0;    // output channels (required)
  Size2d kernel = 0;  // (required)
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// conv2d with its own weight (out, in/groups, kH, kW) and bias (out), initialised like PyTorch:
// U(-b, b) with b = 1/√fan_in, fan_in = in/groups·kH·kW. Inputs are (N, in, H, W).
// Throws bp::Error naming the field if a size is not positive or groups does not divide in and out.
class BP_API Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  // (C, H, W) -> (out, OH, OW); throws bp::Error on another rank, C != in, or a too-small input.
  Shape output_shape(const Shape& input_shape) const override;
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const Conv2dOptions& options() const { return options_; }
  Size2d kernel() const { return options_.kernel; }
  Size2d stride() const { return options_.stride; }
  Size2d padding() const { return options_.padding; }
  Size2d dilation() const { return options_.dilation; }
  int64_t groups() const { return options_.groups; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  Conv2dOptions options_;
  Tensor weight_, bias_;
};

// The settings of a ConvTranspose2d layer.
struct ConvTranspose2dOptions {
  int64_t in = 0;     // input channels (required)
  int64_t out = 0;    // output channels (required)
  Size2d kernel = 0;  // (required)
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d output_padding = 0;
  Size2d dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// conv_transpose2d with its own weight (in, out/groups, kH, kW) and bias (out), initialised like
// PyTorch: U(-b, b) with b = 1/√fan_in, fan_in = out/groups·kH·kW. Throws bp::Error naming the
// field on settings conv_transpose2d refuses.
class BP_API ConvTranspose2d : public Module {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options,
                           Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const ConvTranspose2dOptions& options() const { return options_; }
  Size2d kernel() const { return options_.kernel; }
  Size2d stride() const { return options_.stride; }
  Size2d padding() const { return options_.padding; }
  Size2d output_padding() const { return options_.output_padding; }
  Size2d dilation() const { return options_.dilation; }
  int64_t groups() const { return options_.groups; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  ConvTranspose2dOptions options_;
  Tensor weight_, bias_;
};

// The settings of MaxPool2d; the stride defaults to the kernel.
struct MaxPool2dOptions {
  Size2d kernel = 0;  // (required)
  std::optional<Size2d> stride = std::nullopt;
  Size2d padding = 0;
};

// max_pool2d as a module. Throws bp::Error naming the field on settings max_pool2d refuses.
class BP_API MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  const MaxPool2dOptions& options() const { return options_; }
  Size2d kernel() const { return options_.kernel; }
  Size2d stride() const { return options_.stride.value_or(options_.kernel); }
  Size2d padding() const { return options_.padding; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  MaxPool2dOptions options_;
};

// The settings of AvgPool2d; the stride defaults to the kernel.
struct AvgPool2dOptions {
  Size2d kernel = 0;  // (required)
  std::optional<Size2d> stride = std::nullopt;
  Size2d padding = 0;
  bool count_include_pad = true;
};

// avg_pool2d as a module. Throws bp::Error naming the field on settings avg_pool2d refuses.
class BP_API AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  const AvgPool2dOptions& options() const { return options_; }
  Size2d kernel() const { return options_.kernel; }
  Size2d stride() const { return options_.stride.value_or(options_.kernel); }
  Size2d padding() const { return options_.padding; }
  bool count_include_pad() const { return options_.count_include_pad; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  AvgPool2dOptions options_;
};

// global_avg_pool as a module: (N, C, H, W) -> (N, C).
class BP_API GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "GlobalAvgPool"; }
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  std::shared_ptr<Module> replicate() const override;
};

}  // namespace nn
}  // namespace bp

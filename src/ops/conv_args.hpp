// The arguments of convolution and pooling, checked once per layer kind: the op, the module that
// wraps it and the model spec's layer all call these, so they accept the same values and word a
// refusal alike, "<who>: <argument> must be ... (got ...)". Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "backprop/conv.hpp"

namespace bp::ops {

struct ConvArgs {
  // nullopt: not known yet (a spec layer before it sees its input)
  std::optional<int64_t> in_channels = std::nullopt;
  std::optional<int64_t> out_channels = std::nullopt;
  Size2d kernel = 1;
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d output_padding = 0;  // conv_transpose2d only
  Size2d dilation = 1;
  int64_t groups = 1;
};

// The channel counts that are known, kernel, stride, dilation and groups positive; padding
// non-negative; groups dividing both channel counts. Throws bp::Error naming `who` otherwise.
void check_conv2d_args(std::string_view who, const ConvArgs& args);

// As check_conv2d_args, and output_padding non-negative and, on each axis, smaller than the
// stride or the dilation.
void check_conv_transpose2d_args(std::string_view who, const ConvArgs& args);

// Kernel and stride positive, padding between 0 and half the kernel.
void check_pool2d_args(std::string_view who, Size2d kernel, Size2d stride, Size2d padding);

}  // namespace bp::ops

// Convolution and pooling layers in model specs. Every one of them takes (C, H, W) inputs; their
// arguments are checked by the same functions as the modules' and the ops' (ops/conv_args.hpp).
#include "backprop/conv.hpp"
#include "nn/spec_internal.hpp"
#include "ops/conv_args.hpp"

namespace bp::nn::spec {

namespace {

void require_chw(Args& a, const Shape& in) {
  if (in.size() != 3)
    a.error(fmt::format("needs inputs of shape (C, H, W), got {}", bp::to_string(in)));
}

// Runs `check` (or builds a layer), reporting its error as this layer's.
template <typename Check>
auto checked(Args& a, Check check) {
  try {
    return check();
  } catch (const Error& e) {
    a.error(e.what());
  }
}

// The input channels once the input is known (not in a dry run).
void take_input(Args& a, const Shape& in, ops::ConvArgs& c) {
  if (a.dry_run()) return;
  require_chw(a, in);
  c.in_channels = in[0];
}

std::shared_ptr<Module> conv(Args& a, const Shape& in, Generator& gen) {
  ops::ConvArgs c{.out_channels = a.positive_int(0, "filters", std::nullopt),
                  .kernel = a.positive_int(1, "kernel", std::nullopt),
                  .stride = a.positive_int(2, "stride", 1),
                  .padding = a.non_negative_int(3, "pad", 0),
                  .dilation = a.positive_int(4, "dilation", 1),
                  .groups = a.positive_int(5, "groups", 1)};
  const bool bias = a.flag(6, "bias", true);
  take_input(a, in, c);
  checked(a, [&] { ops::check_conv2d_args("Conv2d", c); });
  if (a.dry_run()) return nullptr;
  const double in_per_group = static_cast<double>(*c.in_channels / c.groups);
  const double k = static_cast<double>(c.kernel.h);
  a.reserve_parameters(static_cast<double>(*c.out_channels) *
                       (in_per_group * k * k + (bias ? 1 : 0)));
  return std::make_shared<Conv2d>(Conv2dOptions{.in = *c.in_channels,
                                                .out = *c.out_channels,
                                                .kernel = c.kernel,
                                                .stride = c.stride,
                                                .padding = c.padding,
                                                .dilation = c.dilation,
                                                .groups = c.groups,
                                                .bias = bias},
                                  gen);
}

std::shared_ptr<Module> conv_transpose(Args& a, const Shape& in, Generator& gen) {
  ops::ConvArgs c{.out_channels = a.positive_int(0, "filters", std::nullopt),
                  .kernel = a.positive_int(1, "kernel", std::nullopt),
                  .stride = a.positive_int(2, "stride", 1),
                  .padding = a.non_negative_int(3, "pad", 0),
                  .output_padding = a.non_negative_int(4, "output_pad", 0),
                  .dilation = a.positive_int(5, "dilation", 1),
                  .groups = a.positive_int(6, "groups", 1)};
  const bool bias = a.flag(7, "bias", true);
  take_input(a, in, c);
  checked(a, [&] { ops::check_conv_transpose2d_args("ConvTranspose2d", c); });
  if (a.dry_run()) return nullptr;
  const double out_per_group = static_cast<double>(*c.out_channels / c.groups);
  const double k = static_cast<double>(c.kernel.h);
  a.reserve_parameters(static_cast<double>(*c.in_channels) * out_per_group * k * k +
                       (bias ? static_cast<double>(*c.out_channels) : 0.0));
  return std::make_shared<ConvTranspose2d>(
      ConvTranspose2dOptions{.in = *c.in_channels,
                             .out = *c.out_channels,
                             .kernel = c.kernel,
                             .stride = c.stride,
                             .padding = c.padding,
                             .output_padding = c.output_padding,
                             .dilation = c.dilation,
                             .groups = c.groups,
                             .bias = bias},
      gen);
}

// Pooling layers own no parameters, so a dry run builds them too: the constructor checks.
template <typename Pool, typename Options>
std::shared_ptr<Module> pool(Args& a, const Shape& in, Generator&) {
  const int64_t kernel = a.positive_int(0, "kernel", std::nullopt);
  const Options options{.kernel = kernel,
                        .stride = a.positive_int(1, "stride", kernel),
                        .padding = a.non_negative_int(2, "pad", 0)};
  auto layer = checked(a, [&] { return std::make_shared<Pool>(options); });
  if (!a.dry_run()) require_chw(a, in);
  return layer;
}

}  // namespace

void add_conv_layers(LayerTable& k) {
  k["conv"] = {"conv(filters, kernel, stride=1, pad=0, dilation=1, groups=1, bias=true)",
               "2-D convolution over (C, H, W) inputs, square kernel", conv};
  k["conv_transpose"] = {
      "conv_transpose(filters, kernel, stride=1, pad=0, output_pad=0, dilation=1, groups=1, "
      "bias=true)",
      "2-D transposed convolution (upsampling) over (C, H, W) inputs", conv_transpose};
  k["maxpool"] = {"maxpool(kernel, stride=kernel, pad=0)",
                  "maximum over kernel×kernel windows of (C, H, W) inputs",
                  pool<MaxPool2d, MaxPool2dOptions>};
  k["avgpool"] = {"avgpool(kernel, stride=kernel, pad=0)",
                  "mean over kernel×kernel windows of (C, H, W) inputs (padding counts)",
                  pool<AvgPool2d, AvgPool2dOptions>};
  k["global_avgpool"] = {"global_avgpool", "mean over H and W: (C, H, W) -> (C)",
                         [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                           if (!a.dry_run()) require_chw(a, in);
                           return std::make_shared<GlobalAvgPool>();
                         }};
}

}  // namespace bp::nn::spec

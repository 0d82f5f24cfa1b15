// Convolution and pooling layers in model specs. Every one of them takes (C, H, W) inputs.
#include "backprop/conv.hpp"
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

namespace {

int64_t non_negative_int(Args& a, size_t index, const char* key, int64_t fallback) {
  double v = a.number(index, key, static_cast<double>(fallback));
  if (v != std::floor(v) || v < 0 || v > 1e9)
    a.error(fmt::format("argument '{}' must be a non-negative integer, got {}", key, v));
  return static_cast<int64_t>(v);
}

void require_chw(Args& a, const Shape& in) {
  if (in.size() != 3)
    a.error(fmt::format("needs inputs of shape (C, H, W), got {}", bp::to_string(in)));
}

// Layers that own no parameters are cheap to build, so a dry run builds them too: the
// constructor then checks the arguments' ranges in the one place that defines them.
template <typename Make>
std::shared_ptr<Module> checked(Args& a, Make make) {
  try {
    return make();
  } catch (const Error& e) {
    a.error(e.what());
  }
}

}  // namespace

void add_conv_layers(LayerTable& k) {
  k["conv"] = {
      "conv(filters, kernel, stride=1, pad=0, dilation=1, groups=1, bias=true)",
      "2-D convolution over (C, H, W) inputs, square kernel",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        int64_t filters = a.positive_int(0, "filters", std::nullopt);
        int64_t kernel = a.positive_int(1, "kernel", std::nullopt);
        int64_t stride = a.positive_int(2, "stride", 1);
        int64_t pad = non_negative_int(a, 3, "pad", 0);
        int64_t dilation = a.positive_int(4, "dilation", 1);
        int64_t groups = a.positive_int(5, "groups", 1);
        bool bias = a.flag(6, "bias", true);
        if (filters % groups != 0)
          a.error(fmt::format("groups={} does not divide filters={}", groups, filters));
        if (a.dry_run()) return nullptr;
        require_chw(a, in);
        if (in[0] % groups != 0)
          a.error(fmt::format("groups={} does not divide the {} input channels", groups, in[0]));
        a.reserve_parameters(static_cast<double>(filters) *
                             (static_cast<double>(in[0] / groups) * static_cast<double>(kernel) *
                                  static_cast<double>(kernel) +
                              (bias ? 1 : 0)));
        return std::make_shared<Conv2d>(in[0], filters, kernel, stride, pad, dilation, groups, bias,
                                        gen);
      }};
  k["conv_transpose"] = {
      "conv_transpose(filters, kernel, stride=1, pad=0, output_pad=0, dilation=1, groups=1, "
      "bias=true)",
      "2-D transposed convolution (upsampling) over (C, H, W) inputs",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        int64_t filters = a.positive_int(0, "filters", std::nullopt);
        int64_t kernel = a.positive_int(1, "kernel", std::nullopt);
        int64_t stride = a.positive_int(2, "stride", 1);
        int64_t pad = non_negative_int(a, 3, "pad", 0);
        int64_t output_pad = non_negative_int(a, 4, "output_pad", 0);
        int64_t dilation = a.positive_int(5, "dilation", 1);
        int64_t groups = a.positive_int(6, "groups", 1);
        bool bias = a.flag(7, "bias", true);
        if (filters % groups != 0)
          a.error(fmt::format("groups={} does not divide filters={}", groups, filters));
        if (output_pad >= stride && output_pad >= dilation)
          a.error(fmt::format("output_pad={} must be smaller than stride={} or dilation={}",
                              output_pad, stride, dilation));
        if (a.dry_run()) return nullptr;
        require_chw(a, in);
        if (in[0] % groups != 0)
          a.error(fmt::format("groups={} does not divide the {} input channels", groups, in[0]));
        a.reserve_parameters(static_cast<double>(in[0]) * static_cast<double>(filters / groups) *
                                 static_cast<double>(kernel) * static_cast<double>(kernel) +
                             (bias ? static_cast<double>(filters) : 0.0));
        return std::make_shared<ConvTranspose2d>(in[0], filters, kernel, stride, pad, output_pad,
                                                 dilation, groups, bias, gen);
      }};
  k["maxpool"] = {"maxpool(kernel, stride=kernel, pad=0)",
                  "maximum over kernel×kernel windows of (C, H, W) inputs",
                  [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                    int64_t kernel = a.positive_int(0, "kernel", std::nullopt);
                    int64_t stride = a.positive_int(1, "stride", kernel);
                    int64_t pad = non_negative_int(a, 2, "pad", 0);
                    auto layer = checked(
                        a, [&] { return std::make_shared<MaxPool2d>(kernel, stride, pad); });
                    if (!a.dry_run()) require_chw(a, in);
                    return layer;
                  }};
  k["avgpool"] = {"avgpool(kernel, stride=kernel, pad=0)",
                  "mean over kernel×kernel windows of (C, H, W) inputs (padding counts)",
                  [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                    int64_t kernel = a.positive_int(0, "kernel", std::nullopt);
                    int64_t stride = a.positive_int(1, "stride", kernel);
                    int64_t pad = non_negative_int(a, 2, "pad", 0);
                    auto layer = checked(
                        a, [&] { return std::make_shared<AvgPool2d>(kernel, stride, pad); });
                    if (!a.dry_run()) require_chw(a, in);
                    return layer;
                  }};
  k["global_avgpool"] = {"global_avgpool", "mean over H and W: (C, H, W) -> (C)",
                         [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                           if (!a.dry_run()) require_chw(a, in);
                           return std::make_shared<GlobalAvgPool>();
                         }};
}

}  // namespace bp::nn::spec

// Convolution and pooling ops: argument checks, output sizes, and each forward pass next to the
// backward pass it records. The arithmetic lives in kernels/conv.hpp.
#include "backprop/conv.hpp"

#include <optional>

#include "kernels/conv.hpp"
#include "ops/common.hpp"
#include "ops/conv_args.hpp"

namespace bp {

using namespace ops;

std::string to_string(Size2d size) {
  return size.h == size.w ? fmt::format("{}", size.h) : fmt::format("({}, {})", size.h, size.w);
}

namespace {

// Both extents >= `low`, else an error naming `who` and the argument.
void check_at_least(std::string_view who, const char* what, Size2d v, int64_t low) {
  BP_CHECK(v.h >= low && v.w >= low, "{}: {} must be {} (got {})", who, what,
           low == 0   ? "non-negative"
           : low == 1 ? "positive"
                      : ">= " + std::to_string(low),
           to_string(v));
}

void check_4d(const char* op, const Tensor& x, const char* what = "input",
              const char* layout = "(N, C, H, W)") {
  check_defined(x, op, what);
  BP_CHECK_AS(ShapeError, x.dim() == 4, "{}: the {} must be 4-D {}, got {}", op, what, layout,
              to_string(x.shape()));
}

// Output extent of a window of `span` input elements sliding with `stride` over `in` padded by
// `pad` on both sides (floor division, as in PyTorch). Requires span <= in + 2·pad.
int64_t out_extent(int64_t in, int64_t span, int64_t stride, int64_t pad) {
  return (in + 2 * pad - span) / stride + 1;
}

int64_t dilated(int64_t kernel, int64_t dilation) {
  return dilation * (kernel - 1) + 1;
}

// Checks that x and weight are 4-D; returns `a` with the input channels and the kernel they hold.
ConvArgs with_tensors(const char* op, const Tensor& x, const Tensor& weight,
                      const char* weight_layout, ConvArgs a) {
  check_4d(op, x);
  check_4d(op, weight, "weight", weight_layout);
  a.in_channels = x.size(1);
  a.kernel = {weight.size(2), weight.size(3)};
  return a;
}

// `s` with the window of `a`: its stride, padding, dilation and groups.
kernels::ConvShape with_window(kernels::ConvShape s, const ConvArgs& a) {
  s.stride_h = a.stride.h;
  s.stride_w = a.stride.w;
  s.pad_h = a.padding.h;
  s.pad_w = a.padding.w;
  s.dil_h = a.dilation.h;
  s.dil_w = a.dilation.w;
  s.groups = a.groups;
  return s;
}

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Tensor& weight) {
  if (!bias.defined()) return;
  BP_CHECK_AS(ShapeError, bias.dim() == 1 && bias.size(0) == channels,
              "{}: bias of shape {} does not match weight {} (expected [{}])", op,
              to_string(bias.shape()), to_string(weight.shape()), channels);
}

}  // namespace

// ---- argument checks ----

namespace ops {

void check_conv2d_args(std::string_view who, const ConvArgs& a) {
  auto shown = [](std::optional<int64_t> c) { return c ? std::to_string(*c) : "?"; };
  BP_CHECK(a.in_channels.value_or(1) > 0 && a.out_channels.value_or(1) > 0,
           "{}: channel counts must be positive (got in={}, out={})", who, shown(a.in_channels),
           shown(a.out_channels));
  check_at_least(who, "kernel", a.kernel, 1);
  check_at_least(who, "stride", a.stride, 1);
  check_at_least(who, "padding", a.padding, 0);
  check_at_least(who, "dilation", a.dilation, 1);
  BP_CHECK(a.groups >= 1, "{}: groups must be positive (got {})", who, a.groups);
  auto check_divides = [&](std::optional<int64_t> channels, const char* which) {
    BP_CHECK(!channels || *channels % a.groups == 0,
             "{}: groups={} does not divide the {} {} channels", who, a.groups, *channels, which);
  };
  check_divides(a.in_channels, "input");
  check_divides(a.out_channels, "output");
}

void check_conv_transpose2d_args(std::string_view who, const ConvArgs& a) {
  check_conv2d_args(who, a);
  const Size2d out_pad = a.output_padding;
  check_at_least(who, "output_padding", out_pad, 0);
  BP_CHECK((out_pad.h < a.stride.h || out_pad.h < a.dilation.h) &&
               (out_pad.w < a.stride.w || out_pad.w < a.dilation.w),
           "{}: output_padding {} must be smaller than the stride {} or the dilation {}", who,
           to_string(out_pad), to_string(a.stride), to_string(a.dilation));
}

void check_pool2d_args(std::string_view who, Size2d kernel, Size2d stride, Size2d padding) {
  check_at_least(who, "kernel", kernel, 1);
  check_at_least(who, "stride", stride, 1);
  check_at_least(who, "padding", padding, 0);
  BP_CHECK(2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w,
           "{}: padding {} must be at most half the kernel {}", who, to_string(padding),
           to_string(kernel));
}

}  // namespace ops

// ---- conv2d ----

namespace {

// Checks x, weight, bias and the arguments against each other; returns the convolution's shape.
kernels::ConvShape conv2d_shape(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const ConvArgs& args) {
  const char* op = "conv2d";
  ConvArgs a = with_tensors(op, x, weight, "(O, C/groups, kH, kW)", args);
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  a.out_channels = ws[0];
  check_conv2d_args(op, a);
  BP_CHECK(ws[1] == xs[1] / a.groups,
           "conv2d: weight {} expects {} input channels per group, but input {} with groups={} "
           "has {}",
           to_string(ws), ws[1], to_string(xs), a.groups, xs[1] / a.groups);
  check_bias(op, bias, ws[0], weight);
  const int64_t span_h = dilated(ws[2], a.dilation.h), span_w = dilated(ws[3], a.dilation.w);
  BP_CHECK(span_h <= xs[2] + 2 * a.padding.h && span_w <= xs[3] + 2 * a.padding.w,
           "conv2d: kernel {}x{} (dilation {}) is larger than the padded input {}x{} of input {}",
           ws[2], ws[3], to_string(a.dilation), xs[2] + 2 * a.padding.h, xs[3] + 2 * a.padding.w,
           to_string(xs));
  return with_window({.n = xs[0],
                      .c_in = xs[1],
                      .h = xs[2],
                      .w = xs[3],
                      .c_out = ws[0],
                      .kh = ws[2],
                      .kw = ws[3],
                      .oh = out_extent(xs[2], span_h, a.stride.h, a.padding.h),
                      .ow = out_extent(xs[3], span_w, a.stride.w, a.padding.w)},
                     a);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
              Size2d padding, Size2d dilation, int64_t groups) {
  const kernels::ConvShape s =
      conv2d_shape(x, weight, bias,
                   {.stride = stride, .padding = padding, .dilation = dilation, .groups = groups});
  Tensor y = make_tensor({s.n, s.c_out, s.oh, s.ow});
  kernels::conv2d_forward(s, x.data(), weight.data(), bias.defined() ? bias.data() : nullptr,
                          y.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;

  // y = W⋆x + b ⇒ gx = Wᵀ⋆gy (transposed convolution), gW = Σ gy ⊗ x-windows, gb = Σ_{n,i,j} gy
  Tensor x_saved = x.detach(), w_saved = weight.detach();
  const bool want_x = x.requires_grad(), want_w = weight.requires_grad();
  const bool want_b = bias.defined() && bias.requires_grad();
  return record(OpKind::conv2d, y, {x, weight, bias}, {x_saved, w_saved},
                [=](const Tensor& g) -> std::vector<Tensor> {
                  Tensor gx, gw, gb;
                  if (want_x) {
                    gx = make_tensor(x_saved.shape());
                    kernels::conv2d_backward_data(s, g.data(), w_saved.data(), gx.data());
                  }
                  if (want_b) gb = make_tensor({s.c_out});
                  if (want_w) {
                    gw = make_tensor(w_saved.shape());
                    kernels::conv2d_backward_weights(s, x_saved.data(), g.data(), gw.data(),
                                                     want_b ? gb.data() : nullptr);
                  } else if (want_b) {
                    kernels::channel_sum(s.n, s.c_out, s.oh * s.ow, g.data(), gb.data());
                  }
                  return {gx, gw, gb};
                });
}

// ---- conv_transpose2d ----

namespace {

// Checks x, weight, bias and the arguments against each other; returns the shape of the
// convolution this op is the transpose of: from the output (N, O, oh, ow) back to the input
// (N, C, H, W), with the same weight read as (C, O/groups, kH, kW).
kernels::ConvShape conv_transpose2d_shape(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                          const ConvArgs& args) {
  const char* op = "conv_transpose2d";
  // The output channels, ws[1]·groups, are a multiple of groups: only the input's are checked.
  const ConvArgs a = with_tensors(op, x, weight, "(C, O/groups, kH, kW)", args);
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  check_conv_transpose2d_args(op, a);
  BP_CHECK(ws[0] == xs[1],
           "conv_transpose2d: weight {} expects {} input channels, but input {} has {}",
           to_string(ws), ws[0], to_string(xs), xs[1]);
  BP_CHECK(ws[1] >= 1, "conv_transpose2d: weight {} has no output channels", to_string(ws));
  check_bias(op, bias, ws[1] * a.groups, weight);
  const int64_t oh = (xs[2] - 1) * a.stride.h - 2 * a.padding.h + dilated(ws[2], a.dilation.h) +
                     a.output_padding.h;
  const int64_t ow = (xs[3] - 1) * a.stride.w - 2 * a.padding.w + dilated(ws[3], a.dilation.w) +
                     a.output_padding.w;
  BP_CHECK(xs[2] >= 1 && xs[3] >= 1 && oh >= 1 && ow >= 1,
           "conv_transpose2d: input {} with weight {}, stride {}, padding {} gives an empty "
           "output {}x{}",
           to_string(xs), to_string(ws), to_string(a.stride), to_string(a.padding), oh, ow);
  return with_window({.n = xs[0],
                      .c_in = ws[1] * a.groups,
                      .h = oh,
                      .w = ow,
                      .c_out = xs[1],
                      .kh = ws[2],
                      .kw = ws[3],
                      .oh = xs[2],
                      .ow = xs[3]},
                     a);
}

}  // namespace

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
                        Size2d padding, Size2d output_padding, Size2d dilation, int64_t groups) {
  const kernels::ConvShape s = conv_transpose2d_shape(x, weight, bias,
                                                      {.stride = stride,
                                                       .padding = padding,
                                                       .output_padding = output_padding,
                                                       .dilation = dilation,
                                                       .groups = groups});
  Tensor y = make_tensor({s.n, s.c_in, s.h, s.w});
  kernels::conv2d_backward_data(s, x.data(), weight.data(), y.data());
  if (bias.defined()) kernels::add_channel_bias(s.n, s.c_in, s.h * s.w, bias.data(), y.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;

  // y = Wᵀ⋆x + b ⇒ gx = W⋆gy (a plain convolution), gW = Σ x ⊗ gy-windows, gb = Σ_{n,i,j} gy
  Tensor x_saved = x.detach(), w_saved = weight.detach();
  const bool want_x = x.requires_grad(), want_w = weight.requires_grad();
  const bool want_b = bias.defined() && bias.requires_grad();
  return record(OpKind::conv_transpose2d, y, {x, weight, bias}, {x_saved, w_saved},
                [=](const Tensor& g) -> std::vector<Tensor> {
                  Tensor gx, gw, gb;
                  if (want_x) {
                    gx = make_tensor(x_saved.shape());
                    kernels::conv2d_forward(s, g.data(), w_saved.data(), nullptr, gx.data());
                  }
                  if (want_w) {
                    gw = make_tensor(w_saved.shape());
                    kernels::conv2d_backward_weights(s, g.data(), x_saved.data(), gw.data(),
                                                     nullptr);
                  }
                  if (want_b) {
                    gb = make_tensor({s.c_in});
                    kernels::channel_sum(s.n, s.c_in, s.h * s.w, g.data(), gb.data());
                  }
                  return {gx, gw, gb};
                });
}

// ---- pooling ----

namespace {

// Checks a pooling's arguments against x and returns its shape.
kernels::PoolShape pool_shape(const char* op, const Tensor& x, Size2d kernel,
                              std::optional<Size2d> stride_arg, Size2d padding) {
  check_4d(op, x);
  const Size2d stride = stride_arg.value_or(kernel);
  check_pool2d_args(op, kernel, stride, padding);
  const Shape& xs = x.shape();
  BP_CHECK(kernel.h <= xs[2] + 2 * padding.h && kernel.w <= xs[3] + 2 * padding.w,
           "{}: kernel {} is larger than the padded input {}x{} of input {}", op, to_string(kernel),
           xs[2] + 2 * padding.h, xs[3] + 2 * padding.w, to_string(xs));
  return {.n = xs[0],
          .c = xs[1],
          .h = xs[2],
          .w = xs[3],
          .kh = kernel.h,
          .kw = kernel.w,
          .oh = out_extent(xs[2], kernel.h, stride.h, padding.h),
          .ow = out_extent(xs[3], kernel.w, stride.w, padding.w),
          .stride_h = stride.h,
          .stride_w = stride.w,
          .pad_h = padding.h,
          .pad_w = padding.w};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Size2d kernel, std::optional<Size2d> stride, Size2d padding) {
  const kernels::PoolShape s = pool_shape("max_pool2d", x, kernel, stride, padding);
  Tensor y = make_tensor({s.n, s.c, s.oh, s.ow});
  if (!autograd::any_requires_grad({x})) {
    kernels::max_pool2d_forward(s, x.data(), y.data(), nullptr);
    return y;
  }
  // Where each maximum came from, one int32 per output (a float tensor of the same size only to
  // reuse the tensor allocator).
  static_assert(sizeof(int32_t) == sizeof(float));
  Tensor workspace = make_tensor({s.n, s.c, s.oh, s.ow});
  kernels::max_pool2d_forward(s, x.data(), y.data(), reinterpret_cast<int32_t*>(workspace.data()));

  // y = max over the window ⇒ gx = gy at each window's argmax, 0 elsewhere
  Shape x_shape = x.shape();
  return record(OpKind::max_pool2d, y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = make_tensor(x_shape);
    kernels::max_pool2d_backward(s, g.data(), reinterpret_cast<const int32_t*>(workspace.data()),
                                 gx.data());
    return {gx};
  });
}

Tensor avg_pool2d(const Tensor& x, Size2d kernel, std::optional<Size2d> stride, Size2d padding,
                  bool count_include_pad) {
  const kernels::PoolShape s = pool_shape("avg_pool2d", x, kernel, stride, padding);
  Tensor y = make_tensor({s.n, s.c, s.oh, s.ow});
  kernels::avg_pool2d_forward(s, count_include_pad, x.data(), y.data());
  if (!autograd::any_requires_grad({x})) return y;

  // y = Σ window / divisor ⇒ gx = Σ over the windows holding x of gy / divisor
  Shape x_shape = x.shape();
  return record(OpKind::avg_pool2d, y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = make_tensor(x_shape);
    kernels::avg_pool2d_backward(s, count_include_pad, g.data(), gx.data());
    return {gx};
  });
}

Tensor global_avg_pool(const Tensor& x) {
  check_4d("global_avg_pool", x);
  const Shape& xs = x.shape();
  BP_CHECK_AS(ShapeError, xs[2] >= 1 && xs[3] >= 1,
              "global_avg_pool: input {} has an empty spatial extent", to_string(xs));
  // One window covering the whole plane.
  const kernels::PoolShape s{.n = xs[0],
                             .c = xs[1],
                             .h = xs[2],
                             .w = xs[3],
                             .kh = xs[2],
                             .kw = xs[3],
                             .oh = 1,
                             .ow = 1,
                             .stride_h = 1,
                             .stride_w = 1,
                             .pad_h = 0,
                             .pad_w = 0};
  Tensor y = make_tensor({s.n, s.c});
  kernels::avg_pool2d_forward(s, true, x.data(), y.data());
  if (!autograd::any_requires_grad({x})) return y;

  // y[n, c] = mean of the plane ⇒ gx = gy[n, c] / (H·W) everywhere in the plane
  Shape x_shape = x.shape();
  return record(OpKind::global_avg_pool, y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = make_tensor(x_shape);
    kernels::avg_pool2d_backward(s, true, g.data(), gx.data());
    return {gx};
  });
}

}  // namespace bp

// Convolution and pooling ops: argument checks, output sizes, and each forward pass next to the
// backward pass it records. The arithmetic lives in kernels/conv.hpp.
#include "backprop/conv.hpp"

#include <optional>

#include "kernels/conv.hpp"
#include "ops/common.hpp"

namespace bp {

using namespace ops;

std::string to_string(Size2d size) {
  return size.h == size.w ? fmt::format("{}", size.h) : fmt::format("({}, {})", size.h, size.w);
}

namespace {

// Both extents >= `low`, else an error naming the op and the argument.
void check_at_least(const char* op, const char* what, Size2d v, int64_t low) {
  BP_CHECK(v.h >= low && v.w >= low, "{}: {} must be {} (got {})", op, what,
           low == 0   ? "non-negative"
           : low == 1 ? "positive"
                      : ">= " + std::to_string(low),
           to_string(v));
}

void check_4d(const char* op, const Tensor& x, const char* what = "input",
              const char* layout = "(N, C, H, W)") {
  check_defined(x, op, what);
  BP_CHECK(x.dim() == 4, "{}: the {} must be 4-D {}, got {}", op, what, layout,
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

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Tensor& weight) {
  if (!bias.defined()) return;
  BP_CHECK(bias.dim() == 1 && bias.size(0) == channels,
           "{}: bias of shape {} does not match weight {} (expected [{}])", op,
           to_string(bias.shape()), to_string(weight.shape()), channels);
}

}  // namespace

// ---- conv2d ----

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
              Size2d padding, Size2d dilation, int64_t groups) {
  const char* op = "conv2d";
  check_4d(op, x);
  check_4d(op, weight, "weight", "(O, C/groups, kH, kW)");
  check_at_least(op, "stride", stride, 1);
  check_at_least(op, "padding", padding, 0);
  check_at_least(op, "dilation", dilation, 1);
  BP_CHECK(groups >= 1, "conv2d: groups must be positive (got {})", groups);
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  BP_CHECK(xs[1] % groups == 0, "conv2d: input {} has {} channels, not divisible by groups={}",
           to_string(xs), xs[1], groups);
  BP_CHECK(ws[0] >= 1 && ws[0] % groups == 0,
           "conv2d: weight {} has {} output channels, not a positive multiple of groups={}",
           to_string(ws), ws[0], groups);
  BP_CHECK(ws[1] == xs[1] / groups,
           "conv2d: weight {} expects {} input channels per group, but input {} with groups={} "
           "has {}",
           to_string(ws), ws[1], to_string(xs), groups, xs[1] / groups);
  BP_CHECK(ws[2] >= 1 && ws[3] >= 1, "conv2d: weight {} has an empty kernel", to_string(ws));
  check_bias(op, bias, ws[0], weight);
  const int64_t span_h = dilated(ws[2], dilation.h), span_w = dilated(ws[3], dilation.w);
  BP_CHECK(span_h <= xs[2] + 2 * padding.h && span_w <= xs[3] + 2 * padding.w,
           "conv2d: kernel {}x{} (dilation {}) is larger than the padded input {}x{} of input {}",
           ws[2], ws[3], to_string(dilation), xs[2] + 2 * padding.h, xs[3] + 2 * padding.w,
           to_string(xs));

  const kernels::ConvShape s{xs[0],
                             xs[1],
                             xs[2],
                             xs[3],
                             ws[0],
                             ws[2],
                             ws[3],
                             out_extent(xs[2], span_h, stride.h, padding.h),
                             out_extent(xs[3], span_w, stride.w, padding.w),
                             stride.h,
                             stride.w,
                             padding.h,
                             padding.w,
                             dilation.h,
                             dilation.w,
                             groups};
  Tensor y = make_tensor({s.n, s.c_out, s.oh, s.ow});
  kernels::conv2d_forward(s, x.data(), weight.data(), bias.defined() ? bias.data() : nullptr,
                          y.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;

  // y = W⋆x + b ⇒ gx = Wᵀ⋆gy (transposed convolution), gW = Σ gy ⊗ x-windows, gb = Σ_{n,i,j} gy
  Tensor dx = x.detach(), dw = weight.detach();
  const bool gx = x.requires_grad(), gw = weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  return record(OpKind::conv2d, y, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads(3);
    if (gx) {
      grads[0] = make_tensor(dx.shape());
      kernels::conv2d_backward_data(s, g.data(), dw.data(), grads[0].data());
    }
    if (gb) grads[2] = make_tensor({s.c_out});
    if (gw) {
      grads[1] = make_tensor(dw.shape());
      kernels::conv2d_backward_weights(s, dx.data(), g.data(), grads[1].data(),
                                       gb ? grads[2].data() : nullptr);
    } else if (gb) {
      kernels::channel_sum(s.n, s.c_out, s.oh * s.ow, g.data(), grads[2].data());
    }
    return grads;
  });
}

// ---- conv_transpose2d ----

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
                        Size2d padding, Size2d output_padding, Size2d dilation, int64_t groups) {
  const char* op = "conv_transpose2d";
  check_4d(op, x);
  check_4d(op, weight, "weight", "(C, O/groups, kH, kW)");
  check_at_least(op, "stride", stride, 1);
  check_at_least(op, "padding", padding, 0);
  check_at_least(op, "output_padding", output_padding, 0);
  check_at_least(op, "dilation", dilation, 1);
  BP_CHECK(groups >= 1, "conv_transpose2d: groups must be positive (got {})", groups);
  BP_CHECK((output_padding.h < stride.h || output_padding.h < dilation.h) &&
               (output_padding.w < stride.w || output_padding.w < dilation.w),
           "conv_transpose2d: output_padding {} must be smaller than the stride {} or the "
           "dilation {}",
           to_string(output_padding), to_string(stride), to_string(dilation));
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  BP_CHECK(xs[1] % groups == 0,
           "conv_transpose2d: input {} has {} channels, not divisible by groups={}", to_string(xs),
           xs[1], groups);
  BP_CHECK(ws[0] == xs[1],
           "conv_transpose2d: weight {} expects {} input channels, but input {} has {}",
           to_string(ws), ws[0], to_string(xs), xs[1]);
  BP_CHECK(ws[1] >= 1, "conv_transpose2d: weight {} has no output channels", to_string(ws));
  BP_CHECK(ws[2] >= 1 && ws[3] >= 1, "conv_transpose2d: weight {} has an empty kernel",
           to_string(ws));
  const int64_t out_channels = ws[1] * groups;
  check_bias(op, bias, out_channels, weight);
  const int64_t oh =
      (xs[2] - 1) * stride.h - 2 * padding.h + dilated(ws[2], dilation.h) + output_padding.h;
  const int64_t ow =
      (xs[3] - 1) * stride.w - 2 * padding.w + dilated(ws[3], dilation.w) + output_padding.w;
  BP_CHECK(xs[2] >= 1 && xs[3] >= 1 && oh >= 1 && ow >= 1,
           "conv_transpose2d: input {} with weight {}, stride {}, padding {} gives an empty "
           "output {}x{}",
           to_string(xs), to_string(ws), to_string(stride), to_string(padding), oh, ow);

  // The convolution this op is the transpose of: from the output (N, O, oh, ow) back to the input
  // (N, C, H, W), with the same weight read as (C, O/groups, kH, kW).
  const kernels::ConvShape s{xs[0],     out_channels, oh,         ow,       xs[1],    ws[2],
                             ws[3],     xs[2],        xs[3],      stride.h, stride.w, padding.h,
                             padding.w, dilation.h,   dilation.w, groups};
  Tensor y = make_tensor({s.n, out_channels, oh, ow});
  kernels::conv2d_backward_data(s, x.data(), weight.data(), y.data());
  if (bias.defined()) kernels::add_channel_bias(s.n, out_channels, oh * ow, bias.data(), y.data());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;

  // y = Wᵀ⋆x + b ⇒ gx = W⋆gy (a plain convolution), gW = Σ x ⊗ gy-windows, gb = Σ_{n,i,j} gy
  Tensor dx = x.detach(), dw = weight.detach();
  const bool gx = x.requires_grad(), gw = weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  return record(
      OpKind::conv_transpose2d, y, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
        std::vector<Tensor> grads(3);
        if (gx) {
          grads[0] = make_tensor(dx.shape());
          kernels::conv2d_forward(s, g.data(), dw.data(), nullptr, grads[0].data());
        }
        if (gw) {
          grads[1] = make_tensor(dw.shape());
          kernels::conv2d_backward_weights(s, g.data(), dx.data(), grads[1].data(), nullptr);
        }
        if (gb) {
          grads[2] = make_tensor({s.c_in});
          kernels::channel_sum(s.n, s.c_in, s.h * s.w, g.data(), grads[2].data());
        }
        return grads;
      });
}

// ---- pooling ----

namespace {

// Checks a pooling's arguments against x and returns its shape.
kernels::PoolShape pool_shape(const char* op, const Tensor& x, Size2d kernel,
                              std::optional<Size2d> stride_arg, Size2d padding) {
  check_4d(op, x);
  const Size2d stride = stride_arg.value_or(kernel);
  check_at_least(op, "kernel", kernel, 1);
  check_at_least(op, "stride", stride, 1);
  check_at_least(op, "padding", padding, 0);
  BP_CHECK(2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w,
           "{}: padding {} must be at most half the kernel {}", op, to_string(padding),
           to_string(kernel));
  const Shape& xs = x.shape();
  BP_CHECK(kernel.h <= xs[2] + 2 * padding.h && kernel.w <= xs[3] + 2 * padding.w,
           "{}: kernel {} is larger than the padded input {}x{} of input {}", op, to_string(kernel),
           xs[2] + 2 * padding.h, xs[3] + 2 * padding.w, to_string(xs));
  return {xs[0],
          xs[1],
          xs[2],
          xs[3],
          kernel.h,
          kernel.w,
          out_extent(xs[2], kernel.h, stride.h, padding.h),
          out_extent(xs[3], kernel.w, stride.w, padding.w),
          stride.h,
          stride.w,
          padding.h,
          padding.w};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Size2d kernel, std::optional<Size2d> stride, Size2d padding) {
  const kernels::PoolShape s = pool_shape("max_pool2d", x, kernel, stride, padding);
  Tensor y = make_tensor({s.n, s.c, s.oh, s.ow});
  const kernels::PoolImpl impl = kernels::max_pool2d_impl(s);
  if (!autograd::any_requires_grad({x})) {
    kernels::max_pool2d_forward(impl, s, x.data(), y.data(), nullptr);
    return y;
  }
  // Where each maximum came from, in the implementation's own format (a float tensor only to
  // reuse the tensor allocator).
  const size_t bytes = kernels::max_pool2d_workspace_bytes(impl, s);
  Tensor workspace =
      make_tensor({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))});
  kernels::max_pool2d_forward(impl, s, x.data(), y.data(), workspace.data());

  // y = max over the window ⇒ gx = gy at each window's argmax, 0 elsewhere
  Shape x_shape = x.shape();
  return record(OpKind::max_pool2d, y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = make_tensor(x_shape);
    kernels::max_pool2d_backward(impl, s, g.data(), workspace.data(), gx.data());
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
  BP_CHECK(xs[2] >= 1 && xs[3] >= 1, "global_avg_pool: input {} has an empty spatial extent",
           to_string(xs));
  // One window covering the whole plane.
  const kernels::PoolShape s{xs[0], xs[1], xs[2], xs[3], xs[2], xs[3], 1, 1, 1, 1, 0, 0};
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

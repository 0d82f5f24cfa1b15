// Convolution and pooling kernels over contiguous NCHW buffers, organised as in kernels.hpp: each
// signature written once, the reference loops define, the fast ones (oneDNN, where it takes the
// configuration) are chosen at run time. Shapes arrive already validated by the ops. Internal.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace bp::kernels {

// A grouped, strided, padded, dilated 2-D convolution: x (n, c_in, h, w) * weight
// (c_out, c_in/groups, kh, kw) -> y (n, c_out, oh, ow), where
// oh = (h + 2·pad_h - dil_h·(kh - 1) - 1) / stride_h + 1 (floor) and likewise ow.
struct ConvShape {
  int64_t n = 0, c_in = 0, h = 0, w = 0;
  int64_t c_out = 0, kh = 0, kw = 0;
  int64_t oh = 0, ow = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;
};

// Convolution kernels; the oneDNN ones return bool (R = bool): false, doing nothing, when oneDNN
// does not take the configuration (the caller then runs the reference).
// y = conv(x, weight) + bias; bias may be null.
template <typename R>
using Conv2dForwardKernel = R(const ConvShape& s, const float* x, const float* weight,
                              const float* bias, float* y);
// gx = ∂(y·gy)/∂x: the transposed convolution of gy with weight (overwrites gx).
template <typename R>
using Conv2dBackwardDataKernel = R(const ConvShape& s, const float* gy, const float* weight,
                                   float* gx);
// gw = Σ gy ⊗ x windows (overwrites gw); gb = Σ_{n,oh,ow} gy when gb is not null.
template <typename R>
using Conv2dBackwardWeightsKernel = R(const ConvShape& s, const float* x, const float* gy,
                                      float* gw, float* gb);
// gb[c] = Σ_{n, i} gy[n, c, i] over a (n, c, hw) buffer (overwrites gb).
using ChannelSumKernel = void(int64_t n, int64_t c, int64_t hw, const float* gy, float* gb);
// y[n, c, i] += bias[c] over a (n, c, hw) buffer.
using AddChannelBiasKernel = void(int64_t n, int64_t c, int64_t hw, const float* bias, float* y);

// Pooling of x (n, c, h, w) with windows kh×kw -> (n, c, oh, ow), padding pad_h/pad_w.
struct PoolShape {
  int64_t n, c, h, w;
  int64_t kh, kw;
  int64_t oh, ow;
  int64_t stride_h, stride_w, pad_h, pad_w;
};

// Average pooling; as for convolution, the oneDNN kernels return bool.
template <typename R>
using AvgPool2dForwardKernel = R(const PoolShape& s, bool count_include_pad, const float* x,
                                 float* y);
// gx = gy spread evenly over each window (divided by the same divisor as the forward).
template <typename R>
using AvgPool2dBackwardKernel = R(const PoolShape& s, bool count_include_pad, const float* gy,
                                  float* gx);

// Max pooling leaves the position of each maximum in a workspace whose format belongs to the
// implementation that ran the forward pass, so the backward pass must use the same one even if the
// backend changes in between: the dispatcher takes the implementation as an argument.
enum class PoolImpl { reference, onednn };
PoolImpl max_pool2d_impl(const PoolShape& s);
// Bytes of workspace a training forward pass fills (the reference stores one int32 per output).
size_t max_pool2d_workspace_bytes(PoolImpl impl, const PoolShape& s);
// y = window maxima; fills `workspace` when it is not null (training), else skips it.
void max_pool2d_forward(PoolImpl impl, const PoolShape& s, const float* x, float* y,
                        void* workspace);
// gx = gy routed to each window's maximum (overwrites gx).
void max_pool2d_backward(PoolImpl impl, const PoolShape& s, const float* gy, const void* workspace,
                         float* gx);

// clang-format off
#define BP_CONV_KERNELS(FAST, REF)                                 \
  FAST(conv2d_forward, Conv2dForwardKernel<void>)                  \
  FAST(conv2d_backward_data, Conv2dBackwardDataKernel<void>)       \
  FAST(conv2d_backward_weights, Conv2dBackwardWeightsKernel<void>) \
  FAST(avg_pool2d_forward, AvgPool2dForwardKernel<void>)           \
  FAST(avg_pool2d_backward, AvgPool2dBackwardKernel<void>)         \
  REF(channel_sum, ChannelSumKernel)                               \
  REF(add_channel_bias, AddChannelBiasKernel)
// clang-format on
BP_DECLARE_KERNELS(BP_CONV_KERNELS)

namespace reference {
// Max pooling's dispatcher (above) takes the implementation; the reference's workspace holds one
// int32 per output, the h·w-plane offset of its maximum in x.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, int32_t* workspace);
void max_pool2d_backward(const PoolShape& s, const float* gy, const int32_t* workspace, float* gx);
}  // namespace reference

namespace onednn {
// Primitives are created once per configuration and cached.
Conv2dForwardKernel<bool> conv2d_forward;
Conv2dBackwardDataKernel<bool> conv2d_backward_data;
Conv2dBackwardWeightsKernel<bool> conv2d_backward_weights;
AvgPool2dForwardKernel<bool> avg_pool2d_forward;
AvgPool2dBackwardKernel<bool> avg_pool2d_backward;
bool max_pool2d_supported(const PoolShape& s);
size_t max_pool2d_workspace_bytes(const PoolShape& s);
// Requires max_pool2d_supported(s).
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, void* workspace);
void max_pool2d_backward(const PoolShape& s, const float* gy, const void* workspace, float* gx);
}  // namespace onednn

}  // namespace bp::kernels

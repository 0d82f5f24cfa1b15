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

// Max pooling: y = window maxima; `workspace` (one int32 per output, or null when no backward pass
// follows) gets the offset in its h·w plane of each output's maximum, the first in the window's
// row-major order among equals.
using MaxPool2dForwardKernel = void(const PoolShape& s, const float* x, float* y,
                                    int32_t* workspace);
// gx = gy routed to each window's maximum (overwrites gx).
using MaxPool2dBackwardKernel = void(const PoolShape& s, const float* gy, const int32_t* workspace,
                                     float* gx);

// clang-format off
#define BP_CONV_KERNELS(FAST, REF)                                 \
  FAST(conv2d_forward, Conv2dForwardKernel<void>)                  \
  FAST(conv2d_backward_data, Conv2dBackwardDataKernel<void>)       \
  FAST(conv2d_backward_weights, Conv2dBackwardWeightsKernel<void>) \
  FAST(avg_pool2d_forward, AvgPool2dForwardKernel<void>)           \
  FAST(avg_pool2d_backward, AvgPool2dBackwardKernel<void>)         \
  FAST(max_pool2d_forward, MaxPool2dForwardKernel)                 \
  FAST(max_pool2d_backward, MaxPool2dBackwardKernel)               \
  FAST(channel_sum, ChannelSumKernel)                              \
  FAST(add_channel_bias, AddChannelBiasKernel)
// clang-format on
BP_DECLARE_KERNELS(BP_CONV_KERNELS)

namespace simd {
// Max pooling's forward pass in vector code, equal to the reference (values and workspace).
MaxPool2dForwardKernel max_pool2d_forward;
// Its backward pass from the workspace, equal to the reference; returns false, doing nothing, for
// overlapping windows (a stride below the window).
bool max_pool2d_backward(const PoolShape& s, const float* gy, const int32_t* workspace, float* gx);
// In vector code, split across threads (kernels/simd/strided.cpp): add_channel_bias equal to the
// reference, channel_sum within n·hw·2⁻²³·Σ|gy| of it (as simd::reduce_sum).
AddChannelBiasKernel add_channel_bias;
ChannelSumKernel channel_sum;
}  // namespace simd

namespace onednn {
// Primitives are created once per configuration and cached.
Conv2dForwardKernel<bool> conv2d_forward;
Conv2dBackwardDataKernel<bool> conv2d_backward_data;
Conv2dBackwardWeightsKernel<bool> conv2d_backward_weights;
AvgPool2dForwardKernel<bool> avg_pool2d_forward;
AvgPool2dBackwardKernel<bool> avg_pool2d_backward;
}  // namespace onednn

}  // namespace bp::kernels

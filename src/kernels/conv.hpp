// Convolution and pooling kernels over contiguous NCHW buffers. As in kernels.hpp, the functions in
// bp::kernels dispatch to oneDNN (when the fast backend is on and oneDNN takes the configuration)
// or to bp::kernels::reference, the direct loops that define what each kernel computes. Shapes
// arrive already validated by the ops. Internal.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bp::kernels {

// A grouped, strided, padded, dilated 2-D convolution: x (n, c_in, h, w) * weight
// (c_out, c_in/groups, kh, kw) -> y (n, c_out, oh, ow), where
// oh = (h + 2·pad_h - dil_h·(kh - 1) - 1) / stride_h + 1 (floor) and likewise ow.
struct ConvShape {
  int64_t n, c_in, h, w;
  int64_t c_out, kh, kw;
  int64_t oh, ow;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t groups;
};

// y = conv(x, weight) + bias; bias may be null.
void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y);
// gx = ∂(y·gy)/∂x: the transposed convolution of gy with weight (overwrites gx).
void conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx);
// gw = Σ gy ⊗ x windows (overwrites gw); gb = Σ_{n,oh,ow} gy when gb is not null.
void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb);
// gb[c] = Σ_{n, i} gy[n, c, i] over a (n, c, hw) buffer (overwrites gb).
void channel_sum(int64_t n, int64_t c, int64_t hw, const float* gy, float* gb);
// y[n, c, i] += bias[c] over a (n, c, hw) buffer.
void add_channel_bias(int64_t n, int64_t c, int64_t hw, const float* bias, float* y);

// Pooling of x (n, c, h, w) with windows kh×kw -> (n, c, oh, ow), padding pad_h/pad_w.
struct PoolShape {
  int64_t n, c, h, w;
  int64_t kh, kw;
  int64_t oh, ow;
  int64_t stride_h, stride_w, pad_h, pad_w;
};

// Which implementation runs a max pooling. The forward pass leaves the position of each maximum
// in a workspace whose format belongs to that implementation, so the backward pass must use the
// same one even if the backend changes in between.
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

void avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y);
// gx = gy spread evenly over each window (divided by the same divisor as the forward).
void avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx);

namespace reference {
void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y);
void conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx);
void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb);
void channel_sum(int64_t n, int64_t c, int64_t hw, const float* gy, float* gb);
void add_channel_bias(int64_t n, int64_t c, int64_t hw, const float* bias, float* y);
// workspace: one int32 per output, the index h·w-plane offset of its maximum in x.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, int32_t* workspace);
void max_pool2d_backward(const PoolShape& s, const float* gy, const int32_t* workspace, float* gx);
void avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y);
void avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx);
}  // namespace reference

namespace onednn {
// Each returns false, doing nothing, when oneDNN does not take the configuration (the caller then
// runs the reference kernel). Primitives are created once per configuration and cached.
bool conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y);
bool conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx);
bool conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb);
bool max_pool2d_supported(const PoolShape& s);
size_t max_pool2d_workspace_bytes(const PoolShape& s);
// Requires max_pool2d_supported(s).
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, void* workspace);
void max_pool2d_backward(const PoolShape& s, const float* gy, const void* workspace, float* gx);
bool avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y);
bool avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx);
}  // namespace onednn

}  // namespace bp::kernels

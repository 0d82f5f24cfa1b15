// Run-time choice between oneDNN and the reference kernels for convolution and pooling: oneDNN
// when the fast backend is on and it takes the configuration, the reference loops otherwise.
#include "kernels/conv.hpp"

namespace bp::kernels {

void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y) {
  if (fast() && onednn::conv2d_forward(s, x, weight, bias, y)) return;
  reference::conv2d_forward(s, x, weight, bias, y);
}

void conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx) {
  if (fast() && onednn::conv2d_backward_data(s, gy, weight, gx)) return;
  reference::conv2d_backward_data(s, gy, weight, gx);
}

void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb) {
  if (fast() && onednn::conv2d_backward_weights(s, x, gy, gw, gb)) return;
  reference::conv2d_backward_weights(s, x, gy, gw, gb);
}

PoolImpl max_pool2d_impl(const PoolShape& s) {
  return fast() && onednn::max_pool2d_supported(s) ? PoolImpl::onednn : PoolImpl::reference;
}

size_t max_pool2d_workspace_bytes(PoolImpl impl, const PoolShape& s) {
  if (impl == PoolImpl::onednn) return onednn::max_pool2d_workspace_bytes(s);
  return static_cast<size_t>(s.n * s.c * s.oh * s.ow) * sizeof(int32_t);
}

void max_pool2d_forward(PoolImpl impl, const PoolShape& s, const float* x, float* y,
                        void* workspace) {
  if (impl == PoolImpl::onednn) return onednn::max_pool2d_forward(s, x, y, workspace);
  reference::max_pool2d_forward(s, x, y, static_cast<int32_t*>(workspace));
}

void max_pool2d_backward(PoolImpl impl, const PoolShape& s, const float* gy, const void* workspace,
                         float* gx) {
  if (impl == PoolImpl::onednn) return onednn::max_pool2d_backward(s, gy, workspace, gx);
  reference::max_pool2d_backward(s, gy, static_cast<const int32_t*>(workspace), gx);
}

void avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y) {
  if (fast() && onednn::avg_pool2d_forward(s, count_include_pad, x, y)) return;
  reference::avg_pool2d_forward(s, count_include_pad, x, y);
}

void avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx) {
  if (fast() && onednn::avg_pool2d_backward(s, count_include_pad, gy, gx)) return;
  reference::avg_pool2d_backward(s, count_include_pad, gy, gx);
}

}  // namespace bp::kernels

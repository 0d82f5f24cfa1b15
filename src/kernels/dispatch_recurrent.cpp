// Run-time choice of the recurrent kernels (see kernels/recurrent.hpp).
#include "kernels/recurrent.hpp"

namespace bp::kernels {

void recurrent_forward(const RecurrentShape& s, const float* x, const float* w_ih,
                       const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                       float* workspace) {
  if (fast()) return onednn::recurrent_forward(s, x, w_ih, w_hh, b_ih, b_hh, y, workspace);
  reference::recurrent_forward(s, x, w_ih, w_hh, b_ih, b_hh, y, workspace);
}

void recurrent_backward(const RecurrentShape& s, const float* x, const float* w_ih,
                        const float* w_hh, const float* workspace, const float* gy, float* gx,
                        float* gw_ih, float* gw_hh, float* gb_ih, float* gb_hh) {
  if (fast())
    return onednn::recurrent_backward(s, x, w_ih, w_hh, workspace, gy, gx, gw_ih, gw_hh, gb_ih,
                                      gb_hh);
  reference::recurrent_backward(s, x, w_ih, w_hh, workspace, gy, gx, gw_ih, gw_hh, gb_ih, gb_hh);
}

}  // namespace bp::kernels

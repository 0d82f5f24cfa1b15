// softmax and log_softmax along an axis.
#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

Tensor softmax_op(const Tensor& x, int64_t axis, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_defined(x, name);
  BP_CHECK_AS(ShapeError, x.dim() >= 1, "{}: needs at least 1 dimension, got a scalar", name);
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), name));
  const int64_t outer = extent(x.shape(), 0, a), len = x.shape()[a],
                inner = extent(x.shape(), a + 1, x.shape().size());
  Tensor y = make_tensor(x.shape());
  kernels::softmax_forward(log, outer, len, inner, x.data(), y.data());
  // d softmax = y·(g - Σ y·g); d log_softmax = g - softmax·Σg
  Tensor y_saved = y.detach();
  return record(log ? OpKind::log_softmax : OpKind::softmax, y, {x}, {y_saved},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  Tensor gx = make_tensor(y_saved.shape());
                  kernels::softmax_backward(log, outer, len, inner, y_saved.data(), gy.data(),
                                            gx.data());
                  return {gx};
                });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) {
  return softmax_op(x, axis, false);
}
Tensor log_softmax(const Tensor& x, int64_t axis) {
  return softmax_op(x, axis, true);
}

}  // namespace bp

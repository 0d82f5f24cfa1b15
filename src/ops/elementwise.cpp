// Binary elementwise ops with broadcasting, and the broadcast/sum_to pair that are each other's
// adjoint.
#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

Tensor binary_forward(kernels::Binary op, const Tensor& a, const Tensor& b, const char* name) {
  check_defined(a, name, "first");
  check_defined(b, name, "second");
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = make_tensor(shape);
  kernels::binary(op, shape, a.data(), broadcast_strides(a.shape(), shape), b.data(),
                  broadcast_strides(b.shape(), shape), out.data());
  return out;
}

}  // namespace

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "broadcast_to");
  BP_CHECK_AS(ShapeError, broadcast_shapes(x.shape(), shape, "broadcast_to") == shape,
              "broadcast_to: shape {} cannot be broadcast to {}", to_string(x.shape()),
              to_string(shape));
  Tensor out = make_tensor(shape);
  kernels::strided_copy(shape, x.data(), broadcast_strides(x.shape(), shape), out.data());
  // d broadcast = sum over the broadcast axes
  Shape in_shape = x.shape();
  return record(
      OpKind::broadcast_to, out, {x},
      [in_shape](const Tensor& gy) -> std::vector<Tensor> { return {sum_to(gy, in_shape)}; });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to");
  if (x.shape() == shape) return x;
  BP_CHECK_AS(ShapeError, broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(),
              "sum_to: shape {} cannot be summed to {}", to_string(x.shape()), to_string(shape));
  Tensor out = Tensor::zeros(shape);
  kernels::reduce_sum(x.shape(), x.data(), broadcast_strides(shape, x.shape()), out.data());
  // d sum = broadcast of the upstream gradient
  Shape in_shape = x.shape();
  return record(OpKind::sum, out, {x}, [in_shape](const Tensor& gy) -> std::vector<Tensor> {
    return {broadcast_to(gy, in_shape)};
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(kernels::Binary::add, a, b, "add");
  // d(a+b) = 1, 1
  Shape sa = a.shape(), sb = b.shape();
  return record(OpKind::add, y, {a, b}, [sa, sb](const Tensor& gy) -> std::vector<Tensor> {
    return {sum_to(gy, sa), sum_to(gy, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(kernels::Binary::sub, a, b, "sub");
  // d(a-b) = 1, -1
  Shape sa = a.shape(), sb = b.shape();
  return record(OpKind::sub, y, {a, b}, [sa, sb](const Tensor& gy) -> std::vector<Tensor> {
    return {sum_to(gy, sa), sum_to(neg(gy), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(kernels::Binary::mul, a, b, "mul");
  // d(ab) = b, a
  Tensor a_saved = a.detach(), b_saved = b.detach();
  bool want_a = a.requires_grad(), want_b = b.requires_grad();
  return record(OpKind::mul, y, {a, b}, {a_saved, b_saved},
                [a_saved, b_saved, want_a, want_b](const Tensor& gy) -> std::vector<Tensor> {
                  return {want_a ? sum_to(mul(gy, b_saved), a_saved.shape()) : Tensor(),
                          want_b ? sum_to(mul(gy, a_saved), b_saved.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(kernels::Binary::div, a, b, "div");
  // d(a/b) = 1/b, -a/b² = -y/b
  Tensor b_saved = b.detach(), y_saved = y.detach();
  Shape sa = a.shape();
  bool want_a = a.requires_grad(), want_b = b.requires_grad();
  return record(
      OpKind::div, y, {a, b}, {b_saved, y_saved},
      [b_saved, y_saved, sa, want_a, want_b](const Tensor& gy) -> std::vector<Tensor> {
        return {want_a ? sum_to(div(gy, b_saved), sa) : Tensor(),
                want_b ? sum_to(neg(div(mul(gy, y_saved), b_saved)), b_saved.shape()) : Tensor()};
      });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(kernels::Binary::pow, a, b, "pow");
  // d a^b = b·a^(b-1), a^b·ln a
  Tensor a_saved = a.detach(), b_saved = b.detach(), y_saved = y.detach();
  bool want_a = a.requires_grad(), want_b = b.requires_grad();
  return record(
      OpKind::pow, y, {a, b}, {a_saved, b_saved, y_saved},
      [a_saved, b_saved, y_saved, want_a, want_b](const Tensor& gy) -> std::vector<Tensor> {
        return {want_a
                    ? sum_to(mul(gy, mul(b_saved, pow(a_saved, sub(b_saved, Tensor::scalar(1))))),
                             a_saved.shape())
                    : Tensor(),
                want_b ? sum_to(mul(gy, mul(y_saved, log(a_saved))), b_saved.shape()) : Tensor()};
      });
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator-(const Tensor& x) {
  return neg(x);
}
Tensor operator+(const Tensor& a, float b) {
  return add(a, Tensor::scalar(b));
}
Tensor operator-(const Tensor& a, float b) {
  return sub(a, Tensor::scalar(b));
}
Tensor operator*(const Tensor& a, float b) {
  return mul(a, Tensor::scalar(b));
}
Tensor operator/(const Tensor& a, float b) {
  return div(a, Tensor::scalar(b));
}
Tensor operator+(float a, const Tensor& b) {
  return add(Tensor::scalar(a), b);
}
Tensor operator-(float a, const Tensor& b) {
  return sub(Tensor::scalar(a), b);
}
Tensor operator*(float a, const Tensor& b) {
  return mul(Tensor::scalar(a), b);
}
Tensor operator/(float a, const Tensor& b) {
  return div(Tensor::scalar(a), b);
}

}  // namespace bp

// Helpers shared by the op files. Internal.
#pragma once

#include <vector>

#include "backprop/autograd.hpp"
#include "backprop/error.hpp"
#include "backprop/ops.hpp"
#include "core/tensor_impl.hpp"
#include "kernels/kernels.hpp"

namespace bp::ops {

using autograd::OpKind;
using autograd::record;

// Throws bp::Error naming `op` when t is undefined.
inline void check_defined(const Tensor& t, const char* op, const char* what = "input") {
  BP_CHECK(t.defined(), "{}: the {} tensor is undefined", op, what);
}

// A tensor as an operand of a matrix product (kernels::gemm's Bf16Sources): under bf16 the product
// reads the tensor's bf16 copy, which its storage keeps while the data is unchanged (core's
// bf16_copy()). So a weight is converted once per update however many products and threads read
// it, an activation once for its forward product and the weight gradient's, and an output
// gradient once for both backward products. The object holds the copy while it lives.
class Bf16Operand final : public kernels::Bf16Source {
 public:
  explicit Bf16Operand(const Tensor& t) : tensor_(t) {}
  const uint16_t* bf16() override {
    if (!copy_) copy_ = bf16_copy(tensor_, kernels::to_bf16);
    return copy_->data;
  }

 private:
  const Tensor& tensor_;
  std::shared_ptr<const Bf16Copy> copy_;
};

// Strides to read a tensor of shape `in` as if broadcast to `out` (0 on broadcast axes).
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> own = contiguous_strides(in);
  size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[lead + d] = in[d] == 1 ? 0 : own[d];
  return strides;
}

// Product of shape[begin, end).
inline int64_t extent(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t d = begin; d < end; ++d) n *= shape[d];
  return n;
}

// Applies a loss reduction to per-element losses.
inline Tensor reduce(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::none:
      return losses;
    case Reduction::sum:
      return sum(losses);
    case Reduction::mean:
      return mean(losses);
  }
  return losses;
}

}  // namespace bp::ops

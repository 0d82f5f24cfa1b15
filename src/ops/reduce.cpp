// Reductions: sum and mean over axes or everything, max/min with the gradient routed to the
// (first) extremum.
#include <algorithm>
#include <cmath>

#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

// The shape left after reducing `axes` (kept as 1s when keepdim).
Shape reduced_shape(const Shape& shape, std::vector<int64_t>& axes, bool keepdim, const char* op) {
  const auto rank = static_cast<int64_t>(shape.size());
  for (int64_t& a : axes) a = normalize_axis(a, rank, op);
  std::sort(axes.begin(), axes.end());
  BP_CHECK_AS(ShapeError, std::adjacent_find(axes.begin(), axes.end()) == axes.end(),
              "{}: an axis is listed twice", op);
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced)
      out.push_back(shape[static_cast<size_t>(d)]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) {
  check_defined(x, "sum");
  return sum_to(x, {});
}

Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  check_defined(x, "sum");
  Shape kept = reduced_shape(x.shape(), axes, true, "sum");
  Tensor s = sum_to(x, kept);
  return keepdim ? s : reshape(s, reduced_shape(x.shape(), axes, false, "sum"));
}

Tensor mean(const Tensor& x) {
  check_defined(x, "mean");
  BP_CHECK(x.numel() > 0, "mean: the tensor is empty");
  return sum(x) * (1.0f / static_cast<float>(x.numel()));
}

Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  check_defined(x, "mean");
  std::vector<int64_t> checked_axes = axes;  // validated here so that errors name "mean"
  reduced_shape(x.shape(), checked_axes, keepdim, "mean");
  Tensor s = sum(x, axes, keepdim);
  BP_CHECK(s.numel() > 0 && x.numel() > 0, "mean: the tensor is empty");
  return s * (static_cast<float>(s.numel()) / static_cast<float>(x.numel()));
}

Tensor max(const Tensor& x, int64_t axis, bool keepdim) {
  check_defined(x, "max");
  const int64_t ax = normalize_axis(axis, x.dim(), "max");
  const auto a = static_cast<size_t>(ax);
  const int64_t outer = extent(x.shape(), 0, a), len = x.shape()[a],
                inner = extent(x.shape(), a + 1, x.shape().size());
  BP_CHECK_AS(ShapeError, len > 0, "max: cannot reduce an empty axis of shape {}",
              to_string(x.shape()));
  std::vector<int64_t> axes{ax};
  Tensor y = make_tensor(reduced_shape(x.shape(), axes, keepdim, "max"));
  std::vector<int64_t> where(static_cast<size_t>(outer * inner));
  const float* px = x.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = o * len * inner + i;
      for (int64_t k = 1; k < len; ++k) {
        int64_t at = o * len * inner + k * inner + i;
        // NaN wins, as in PyTorch: a NaN maximum is reported rather than hidden.
        if (px[at] > px[best] || (std::isnan(px[at]) && !std::isnan(px[best]))) best = at;
      }
      y.data()[o * inner + i] = px[best];
      where[static_cast<size_t>(o * inner + i)] = best;
    }
  // d max = 1 at the position of the maximum, 0 elsewhere
  Shape in_shape = x.shape();
  return record(OpKind::max, y, {x}, [in_shape, where](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = Tensor::zeros(in_shape);
    for (size_t j = 0; j < where.size(); ++j) gx.data()[where[j]] += gy.data()[j];
    return {gx};
  });
}

Tensor max(const Tensor& x) {
  check_defined(x, "max");
  BP_CHECK(x.numel() > 0, "max: the tensor is empty");
  return max(reshape(x, {x.numel()}), 0, false);
}

// Errors are checked here so that they name "min" rather than the max it is built on.
Tensor min(const Tensor& x, int64_t axis, bool keepdim) {
  check_defined(x, "min");
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), "min"));
  BP_CHECK_AS(ShapeError, x.shape()[a] > 0, "min: cannot reduce an empty axis of shape {}",
              to_string(x.shape()));
  return neg(max(neg(x), axis, keepdim));
}
Tensor min(const Tensor& x) {
  check_defined(x, "min");
  BP_CHECK(x.numel() > 0, "min: the tensor is empty");
  return neg(max(neg(x)));
}

std::vector<int64_t> argmax(const Tensor& x, int64_t axis) {
  check_defined(x, "argmax");
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), "argmax"));
  const int64_t outer = extent(x.shape(), 0, a), len = x.shape()[a],
                inner = extent(x.shape(), a + 1, x.shape().size());
  BP_CHECK_AS(ShapeError, len > 0, "argmax: cannot reduce an empty axis of shape {}",
              to_string(x.shape()));
  std::vector<int64_t> out(static_cast<size_t>(outer * inner));
  const float* px = x.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      // NaN counts as the largest value (as PyTorch's argmax): the first NaN wins, so a broken
      // output is never scored as a confident class.
      int64_t best = 0;
      float top = px[o * len * inner + i];
      for (int64_t k = 1; k < len && !std::isnan(top); ++k) {
        const float v = px[(o * len + k) * inner + i];
        if (v > top || std::isnan(v)) {
          best = k;
          top = v;
        }
      }
      out[static_cast<size_t>(o * inner + i)] = best;
    }
  return out;
}

}  // namespace bp

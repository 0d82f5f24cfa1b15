// Shape and indexing ops: reshape (no copy), permute/transpose, concat, slice, index_select.
#include <numeric>

#include "ops/common.hpp"

namespace bp {

using namespace ops;

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined(x, "reshape");
  Shape target = shape;
  int64_t known = 1;
  int64_t infer = -1;
  for (size_t d = 0; d < target.size(); ++d) {
    if (target[d] == -1) {
      BP_CHECK_AS(ShapeError, infer < 0, "reshape: more than one -1 in {}", to_string(shape));
      infer = static_cast<int64_t>(d);
    } else {
      BP_CHECK_AS(ShapeError, target[d] >= 0, "reshape: negative extent in {}", to_string(shape));
      known *= target[d];
    }
  }
  if (infer >= 0) {
    BP_CHECK_AS(ShapeError, known > 0 && x.numel() % known == 0,
                "reshape: cannot reshape {} ({} elements) into {}", to_string(x.shape()), x.numel(),
                to_string(shape));
    target[static_cast<size_t>(infer)] = x.numel() / known;
    known *= target[static_cast<size_t>(infer)];
  }
  BP_CHECK_AS(ShapeError, known == x.numel(), "reshape: cannot reshape {} ({} elements) into {}",
              to_string(x.shape()), x.numel(), to_string(shape));
  // A view: new shape, same storage.
  Tensor y = x.detach();
  y.impl()->shape = target;
  // d reshape = reshape back
  Shape in_shape = x.shape();
  return record(OpKind::reshape, y, {x}, [in_shape](const Tensor& gy) -> std::vector<Tensor> {
    return {reshape(gy, in_shape)};
  });
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  const auto s = static_cast<size_t>(normalize_axis(start_dim, x.dim(), "flatten"));
  Shape shape(x.shape().begin(), x.shape().begin() + static_cast<long>(s));
  shape.push_back(extent(x.shape(), s, x.shape().size()));
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, std::vector<int64_t> order) {
  check_defined(x, "permute");
  BP_CHECK_AS(ShapeError, static_cast<int64_t>(order.size()) == x.dim(),
              "permute: order has {} axes for a tensor of shape {}", order.size(),
              to_string(x.shape()));
  std::vector<bool> seen(order.size(), false);
  for (int64_t& a : order) {
    a = normalize_axis(a, x.dim(), "permute");
    BP_CHECK_AS(ShapeError, !seen[static_cast<size_t>(a)], "permute: axis {} appears twice", a);
    seen[static_cast<size_t>(a)] = true;
  }
  std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  Shape out_shape(order.size());
  std::vector<int64_t> read_strides(order.size());
  std::vector<int64_t> inverse(order.size());
  for (size_t d = 0; d < order.size(); ++d) {
    const auto src = static_cast<size_t>(order[d]);
    out_shape[d] = x.shape()[src];
    read_strides[d] = in_strides[src];
    inverse[src] = static_cast<int64_t>(d);
  }
  Tensor y = make_tensor(out_shape);
  kernels::strided_copy(out_shape, x.data(), read_strides, y.data());
  // d permute = permute by the inverse order
  return record(OpKind::permute, y, {x}, [inverse](const Tensor& gy) -> std::vector<Tensor> {
    return {permute(gy, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  check_defined(x, "transpose");
  std::vector<int64_t> order(static_cast<size_t>(x.dim()));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[static_cast<size_t>(normalize_axis(axis0, x.dim(), "transpose"))],
            order[static_cast<size_t>(normalize_axis(axis1, x.dim(), "transpose"))]);
  return permute(x, order);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  BP_CHECK(!xs.empty(), "concat: needs at least one tensor");
  for (const Tensor& t : xs) check_defined(t, "concat");
  const Shape& first = xs[0].shape();
  const auto a = static_cast<size_t>(normalize_axis(axis, xs[0].dim(), "concat"));
  Shape out_shape = first;
  out_shape[a] = 0;
  for (const Tensor& t : xs) {
    bool compatible = t.dim() == xs[0].dim();
    for (size_t d = 0; compatible && d < first.size(); ++d)
      compatible = d == a || t.shape()[d] == first[d];
    BP_CHECK_AS(ShapeError, compatible, "concat: shapes {} and {} differ outside axis {}",
                to_string(first), to_string(t.shape()), a);
    out_shape[a] += t.shape()[a];
  }
  const int64_t outer = extent(first, 0, a), inner = extent(first, a + 1, first.size());
  Tensor y = make_tensor(out_shape);
  const int64_t row = out_shape[a] * inner;
  int64_t at = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : xs) {
    const int64_t chunk = t.shape()[a] * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(t.data() + o * chunk, chunk, y.data() + o * row + at);
    at += chunk;
    sizes.push_back(t.shape()[a]);
  }
  // d concat = the matching slice of the upstream gradient for each input
  return record(OpKind::concat, y, xs, [sizes, a](const Tensor& gy) -> std::vector<Tensor> {
    std::vector<Tensor> grads;
    int64_t start = 0;
    for (int64_t size : sizes) {
      grads.push_back(slice(gy, static_cast<int64_t>(a), start, start + size));
      start += size;
    }
    return grads;
  });
}

namespace {

// For each of `outer` blocks, copies `count` runs of `inner` values from `from` (block stride
// from_block, run stride from_step) to `to` (to_block, to_step); runs that touch are one copy.
void copy_slices(int64_t outer, int64_t count, int64_t inner, const float* from, int64_t from_block,
                 int64_t from_step, float* to, int64_t to_block, int64_t to_step) {
  const bool contiguous = from_step == inner && to_step == inner;
  for (int64_t o = 0; o < outer; ++o) {
    const float* f = from + o * from_block;
    float* t = to + o * to_block;
    if (contiguous) {
      std::copy_n(f, count * inner, t);
      continue;
    }
    for (int64_t k = 0; k < count; ++k) std::copy_n(f + k * from_step, inner, t + k * to_step);
  }
}

}  // namespace

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  check_defined(x, "slice");
  BP_CHECK(step > 0, "slice: step must be positive (got {})", step);
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), "slice"));
  const int64_t len = x.shape()[a];
  if (start < 0) start += len;
  if (end < 0) end += len;
  start = std::clamp<int64_t>(start, 0, len);
  end = std::clamp<int64_t>(end, start, len);
  const int64_t count = (end - start + step - 1) / step;
  const int64_t outer = extent(x.shape(), 0, a), inner = extent(x.shape(), a + 1, x.shape().size());
  Shape out_shape = x.shape();
  out_shape[a] = count;
  Tensor y = make_tensor(out_shape);
  copy_slices(outer, count, inner, x.data() + start * inner, len * inner, step * inner, y.data(),
              count * inner, inner);
  // d slice = scatter the upstream gradient back into zeros
  Shape in_shape = x.shape();
  return record(OpKind::slice, y, {x}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = Tensor::zeros(in_shape);
    copy_slices(outer, count, inner, gy.data(), count * inner, inner, gx.data() + start * inner,
                len * inner, step * inner);
    return {gx};
  });
}

Tensor index_select(const Tensor& x, int64_t axis, std::span<const int64_t> indices) {
  check_defined(x, "index_select");
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), "index_select"));
  const int64_t len = x.shape()[a];
  for (int64_t i : indices)
    BP_CHECK_AS(ValueError, i >= 0 && i < len,
                "index_select: index {} is out of range for axis {} of shape {}", i, a,
                to_string(x.shape()));
  const int64_t outer = extent(x.shape(), 0, a), inner = extent(x.shape(), a + 1, x.shape().size());
  const auto count = static_cast<int64_t>(indices.size());
  Shape out_shape = x.shape();
  out_shape[a] = count;
  Tensor y = make_tensor(out_shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < count; ++k)
      std::copy_n(x.data() + (o * len + indices[static_cast<size_t>(k)]) * inner, inner,
                  y.data() + (o * count + k) * inner);
  // d index_select = add the upstream gradient into the selected rows (repeats add up)
  Shape in_shape = x.shape();
  std::vector<int64_t> picked(indices.begin(), indices.end());
  return record(OpKind::index_select, y, {x}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx = Tensor::zeros(in_shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < count; ++k) {
        float* dst = gx.data() + (o * len + picked[static_cast<size_t>(k)]) * inner;
        const float* src = gy.data() + (o * count + k) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
      }
    return {gx};
  });
}

}  // namespace bp

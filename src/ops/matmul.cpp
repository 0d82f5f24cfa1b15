// Matrix products: matmul (batched, broadcasting) and linear (x·Wᵀ + b fused).
#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

// op(a) @ op(b) over broadcast batch dimensions, where op transposes the last two axes.
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const size_t ra = sa.size(), rb = sb.size();
  int64_t m = trans_a ? sa[ra - 1] : sa[ra - 2];
  int64_t ka = trans_a ? sa[ra - 2] : sa[ra - 1];
  int64_t kb = trans_b ? sb[rb - 1] : sb[rb - 2];
  int64_t n = trans_b ? sb[rb - 2] : sb[rb - 1];
  BP_CHECK_AS(ShapeError, ka == kb, "matmul: inner dimensions differ: {} @ {} ({} vs {})",
              to_string(sa), to_string(sb), ka, kb);
  Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = make_tensor(out_shape);
  std::vector<int64_t> stride_a = broadcast_strides(batch_a, batch);
  std::vector<int64_t> stride_b = broadcast_strides(batch_b, batch);
  const int64_t mat_a = sa[ra - 2] * sa[ra - 1], mat_b = sb[rb - 2] * sb[rb - 1];
  const int64_t batches = numel(batch);
  // Each side either has every batch's matrix or one for all (the common cases, as attention's
  // heads): one batched product.
  const int64_t count_a = numel(batch_a), count_b = numel(batch_b);
  if ((count_a == batches || count_a == 1) && (count_b == batches || count_b == 1)) {
    Bf16Operand a_bf16(a), b_bf16(b);
    kernels::gemm_batch(batches, trans_a, trans_b, m, n, ka, 1.0f, a.data(), sa[ra - 1],
                        count_a == 1 ? 0 : mat_a, b.data(), sb[rb - 1], count_b == 1 ? 0 : mat_b,
                        0.0f, out.data(), n, m * n, {&a_bf16, &b_bf16});
    return out;
  }
  std::vector<int64_t> index(batch.size(), 0);
  for (int64_t i = 0; i < batches; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += index[d] * stride_a[d];
      ob += index[d] * stride_b[d];
    }
    kernels::gemm(trans_a, trans_b, m, n, ka, 1.0f, a.data() + oa * mat_a, sa[ra - 1],
                  b.data() + ob * mat_b, sb[rb - 1], 0.0f, out.data() + i * m * n, n);
    for (size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul", "first");
  check_defined(b, "matmul", "second");
  BP_CHECK_AS(ShapeError, a.dim() >= 2 && b.dim() >= 2,
              "matmul: both inputs need at least 2 dimensions, got {} @ {}", to_string(a.shape()),
              to_string(b.shape()));
  Tensor y = batched_matmul(a, b, false, false);
  // d(AB) = G·Bᵀ, Aᵀ·G (summed over broadcast batch axes)
  Tensor a_saved = a.detach(), b_saved = b.detach();
  bool want_a = a.requires_grad(), want_b = b.requires_grad();
  return record(
      OpKind::matmul, y, {a, b}, {a_saved, b_saved},
      [a_saved, b_saved, want_a, want_b](const Tensor& gy) -> std::vector<Tensor> {
        return {
            want_a ? sum_to(batched_matmul(gy, b_saved, false, true), a_saved.shape()) : Tensor(),
            want_b ? sum_to(batched_matmul(a_saved, gy, true, false), b_saved.shape()) : Tensor()};
      });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(x, "linear", "input");
  check_defined(weight, "linear", "weight");
  BP_CHECK_AS(ShapeError, weight.dim() == 2, "linear: weight must be 2-D (out, in), got {}",
              to_string(weight.shape()));
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  BP_CHECK_AS(ShapeError, x.dim() >= 1 && x.size(-1) == in_features,
              "linear: input of shape {} does not match weight {} (expected last dimension {})",
              to_string(x.shape()), to_string(weight.shape()), in_features);
  if (bias.defined())
    BP_CHECK_AS(ShapeError, bias.dim() == 1 && bias.size(0) == out_features,
                "linear: bias of shape {} does not match weight {} (expected [{}])",
                to_string(bias.shape()), to_string(weight.shape()), out_features);
  // Not x.numel() / in_features, which divides by zero when in_features is 0.
  const int64_t rows = extent(x.shape(), 0, x.shape().size() - 1);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor y = make_tensor(out_shape);
  float beta = 0.0f;
  if (bias.defined()) {
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(bias.data(), out_features, y.data() + r * out_features);
    beta = 1.0f;
  }
  Bf16Operand x_operand(x), w_operand(weight);
  kernels::gemm(false, true, rows, out_features, in_features, 1.0f, x.data(), in_features,
                weight.data(), in_features, beta, y.data(), out_features, {&x_operand, &w_operand});

  // d(xWᵀ+b) = G·W, Gᵀ·x, Σ_rows G
  Tensor x_saved = x.detach(), w_saved = weight.detach();
  bool want_x = x.requires_grad(), want_w = weight.requires_grad();
  bool want_b = bias.defined() && bias.requires_grad();
  return record(OpKind::linear, y, {x, weight, bias}, {x_saved, w_saved},
                [=](const Tensor& gy) -> std::vector<Tensor> {
                  std::vector<Tensor> grads(3);
                  Bf16Operand gy_bf16(gy), w_bf16(w_saved), x_bf16(x_saved);
                  if (want_x) {
                    grads[0] = make_tensor(x_saved.shape());
                    kernels::gemm(false, false, rows, in_features, out_features, 1.0f, gy.data(),
                                  out_features, w_saved.data(), in_features, 0.0f, grads[0].data(),
                                  in_features, {&gy_bf16, &w_bf16});
                  }
                  if (want_w) {
                    grads[1] = make_tensor(w_saved.shape());
                    kernels::gemm(true, false, out_features, in_features, rows, 1.0f, gy.data(),
                                  out_features, x_saved.data(), in_features, 0.0f, grads[1].data(),
                                  in_features, {&gy_bf16, &x_bf16});
                  }
                  if (want_b) grads[2] = sum_to(gy.reshape({rows, out_features}), {out_features});
                  return grads;
                });
}

}  // namespace bp

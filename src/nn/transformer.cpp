#include "backprop/transformer.hpp"

#include <cmath>

#include "backprop/activation.hpp"
#include "backprop/error.hpp"
#include "backprop/init.hpp"
#include "backprop/ops.hpp"

namespace bp::nn {

namespace {

// Throws unless `shape` is (seq, dim) with 1 ≤ seq ≤ max_len (max_len < 0: any).
void check_sequence(const Shape& shape, int64_t dim, int64_t max_len, const std::string& layer) {
  BP_CHECK(shape.size() == 2 && shape[0] >= 1 && shape[1] == dim,
           "{}: expects samples of shape (seq, {}), got {}", layer, dim, to_string(shape));
  BP_CHECK(max_len < 0 || shape[0] <= max_len,
           "{}: the sequence has {} steps, more than the {} positions it encodes", layer, shape[0],
           max_len);
}

Tensor sinusoids(int64_t max_len, int64_t dim) {
  Tensor p = Tensor::zeros({max_len, dim});
  float* out = p.data();
  for (int64_t t = 0; t < max_len; ++t)
    for (int64_t j = 0; j < dim; ++j) {
      const double omega =
          std::pow(10000.0, -static_cast<double>(j - j % 2) / static_cast<double>(dim));
      const double angle = static_cast<double>(t) * omega;
      out[t * dim + j] = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return p;
}

}  // namespace

// ---- PositionalEncoding ----

PositionalEncoding::PositionalEncoding(int64_t max_len, int64_t dim, PositionKind kind,
                                       Generator& gen)
    : max_len_(max_len), dim_(dim), kind_(kind) {
  BP_CHECK(max_len > 0 && dim > 0,
           "PositionalEncoding: sizes must be positive (got max_len={}, dim={})", max_len, dim);
  if (kind == PositionKind::learned)
    table_ = register_parameter("weight", Tensor::normal({max_len, dim}, 0.0f, 0.02f, gen));
  else
    table_ = sinusoids(max_len, dim);
}

Tensor PositionalEncoding::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() == 3, "{}: expects (batch, seq, {}) inputs, got {}", name(), dim_,
           x.defined() ? to_string(x.shape()) : "an undefined tensor");
  check_sequence({x.size(1), x.size(2)}, dim_, max_len_, name());
  const Tensor p = x.size(1) == max_len_ ? table_ : slice(table_, 0, 0, x.size(1));
  return add(x, p);
}

std::string PositionalEncoding::name() const {
  return fmt::format("PositionalEncoding({}, {}, {})", max_len_, dim_,
                     kind_ == PositionKind::learned ? "learned" : "sinusoidal");
}

Shape PositionalEncoding::output_shape(const Shape& input_shape) const {
  check_sequence(input_shape, dim_, max_len_, name());
  return input_shape;
}

// ---- TransformerBlock ----

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, int64_t ff, float dropout,
                                   bool causal, Generator& gen)
    : dim_(dim), ff_(ff) {
  BP_CHECK(dim > 0 && heads > 0 && ff > 0,
           "TransformerBlock: sizes must be positive (got dim={}, heads={}, ff={})", dim, heads,
           ff);
  ln1_ = std::make_shared<LayerNorm>(Shape{dim});
  register_module("ln1", ln1_);
  attn_ = std::make_shared<MultiheadAttention>(dim, heads, causal, gen);
  register_module("attn", attn_);
  ln2_ = std::make_shared<LayerNorm>(Shape{dim});
  register_module("ln2", ln2_);
  ff1_ = std::make_shared<Linear>(dim, ff, true, gen);
  register_module("ff1", ff1_);
  ff2_ = std::make_shared<Linear>(ff, dim, true, gen);
  register_module("ff2", ff2_);
  dropout_ = std::make_shared<Dropout>(dropout, gen.next_u64());
  register_module("dropout", dropout_);
}

Tensor TransformerBlock::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() == 3, "{}: expects (batch, seq, {}) inputs, got {}", name(), dim_,
           x.defined() ? to_string(x.shape()) : "an undefined tensor");
  check_sequence({x.size(1), x.size(2)}, dim_, -1, name());
  const Tensor h = add(x, dropout_->forward(attn_->forward(ln1_->forward(x))));
  const Tensor mlp = ff2_->forward(gelu(ff1_->forward(ln2_->forward(h))));
  return add(h, dropout_->forward(mlp));
}

std::string TransformerBlock::name() const {
  return fmt::format("TransformerBlock({}, heads={}, ff={}, dropout={:g}{})", dim_, heads(), ff_,
                     dropout(), causal() ? "" : ", causal=false");
}

Shape TransformerBlock::output_shape(const Shape& input_shape) const {
  check_sequence(input_shape, dim_, -1, name());
  return input_shape;
}

}  // namespace bp::nn

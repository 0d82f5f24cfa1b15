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

PositionalEncoding::PositionalEncoding(const PositionalOptions& options, Generator& gen)
    : options_(options) {
  const int64_t max_len = options.max_len, dim = options.dim;
  BP_CHECK(max_len > 0 && dim > 0,
           "PositionalEncoding: sizes must be positive (got max_len={}, dim={})", max_len, dim);
  if (options.kind == PositionKind::learned)
    table_ = register_parameter("weight", Tensor::normal({max_len, dim}, 0.0f, 0.02f, gen));
  else
    table_ = sinusoids(max_len, dim);
}

Tensor PositionalEncoding::forward(const Tensor& x) {
  const int64_t dim = options_.dim, max_len = options_.max_len;
  BP_CHECK(x.defined() && x.dim() == 3, "{}: expects (batch, seq, {}) inputs, got {}", name(), dim,
           x.defined() ? to_string(x.shape()) : "an undefined tensor");
  check_sequence({x.size(1), x.size(2)}, dim, max_len, name());
  const Tensor p = x.size(1) == max_len ? table_ : slice(table_, 0, 0, x.size(1));
  return add(x, p);
}

std::string PositionalEncoding::name() const {
  return fmt::format("PositionalEncoding({}, {}, {})", options_.max_len, options_.dim,
                     kind() == PositionKind::learned ? "learned" : "sinusoidal");
}

Shape PositionalEncoding::output_shape(const Shape& input_shape) const {
  check_sequence(input_shape, options_.dim, options_.max_len, name());
  return input_shape;
}

std::shared_ptr<Module> PositionalEncoding::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<PositionalEncoding>(options_, scratch);
}

// ---- TransformerBlock ----

TransformerBlock::TransformerBlock(const TransformerOptions& options, Generator& gen)
    : options_(options) {
  const auto [dim, heads, ff, dropout, causal] = options;
  BP_CHECK(dim > 0 && heads > 0 && ff > 0,
           "TransformerBlock: sizes must be positive (got dim={}, heads={}, ff={})", dim, heads,
           ff);
  BP_CHECK(dropout >= 0 && dropout < 1, "TransformerBlock: dropout must be in [0, 1), got {}",
           dropout);
  ln1_ = std::make_shared<LayerNorm>(LayerNormOptions{.shape = {dim}});
  register_module("ln1", ln1_);
  attn_ = std::make_shared<MultiheadAttention>(
      AttentionOptions{.dim = dim, .heads = heads, .causal = causal}, gen);
  register_module("attn", attn_);
  ln2_ = std::make_shared<LayerNorm>(LayerNormOptions{.shape = {dim}});
  register_module("ln2", ln2_);
  ff1_ = std::make_shared<Linear>(dim, ff, gen);
  register_module("ff1", ff1_);
  ff2_ = std::make_shared<Linear>(ff, dim, gen);
  register_module("ff2", ff2_);
  dropout_ = std::make_shared<Dropout>(dropout, gen.next_u64());
  register_module("dropout", dropout_);
}

Tensor TransformerBlock::forward(const Tensor& x) {
  BP_CHECK(x.defined() && x.dim() == 3, "{}: expects (batch, seq, {}) inputs, got {}", name(),
           dim(), x.defined() ? to_string(x.shape()) : "an undefined tensor");
  check_sequence({x.size(1), x.size(2)}, dim(), -1, name());
  const Tensor h = add(x, dropout_->forward(attn_->forward(ln1_->forward(x))));
  const Tensor mlp = ff2_->forward(gelu(ff1_->forward(ln2_->forward(h))));
  return add(h, dropout_->forward(mlp));
}

std::string TransformerBlock::name() const {
  return fmt::format("TransformerBlock({}, heads={}, ff={}, dropout={:g}{})", dim(), heads(), ff(),
                     dropout(), causal() ? "" : ", causal=false");
}

Shape TransformerBlock::output_shape(const Shape& input_shape) const {
  check_sequence(input_shape, dim(), -1, name());
  return input_shape;
}

std::shared_ptr<Module> TransformerBlock::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<TransformerBlock>(options_, scratch);
}

}  // namespace bp::nn

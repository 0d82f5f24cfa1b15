// RNN, LSTM, GRU and multi-head attention. Each recurrent layer of a stack is one bp::recurrent
// op (its backward is backpropagation through time); attention is composed from differentiable
// ops.
#include "backprop/recurrent.hpp"

#include <cmath>

#include "backprop/error.hpp"
#include "backprop/init.hpp"

namespace bp::nn {

namespace {

std::string param_name(const char* what, int64_t layer) {
  return fmt::format("{}_l{}", what, layer);
}

}  // namespace

// After the softmax the masked weights are exactly 0 (exp underflows), so no gradient reaches
// later steps.
Tensor causal_mask(int64_t seq) {
  BP_CHECK_AS(ValueError, seq >= 1, "causal_mask: seq must be positive, got {}", seq);
  Tensor mask = Tensor::zeros({seq, seq});
  float* m = mask.data();
  for (int64_t q = 0; q < seq; ++q)
    for (int64_t k = q + 1; k < seq; ++k) m[q * seq + k] = -1e9f;
  return mask;
}

// ---- RecurrentBase ----

RecurrentBase::RecurrentBase(const char* kind, int64_t gates, const RecurrentOptions& options,
                             Generator& gen)
    : kind_(kind), options_(options) {
  const int64_t input = options.input, hidden = options.hidden, layers = options.layers;
  BP_CHECK_AS(ValueError, input > 0 && hidden > 0 && layers > 0,
              "{}: input, hidden and layers must be positive (got {}, {}, {})", kind, input, hidden,
              layers);
  BP_CHECK_AS(ValueError, gates == 1 || options.nonlinearity == RNNNonlinearity::tanh,
              "{}: nonlinearity is RNN's only setting (its cells have their own)", kind);
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden));
  const int64_t rows = gates * hidden;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t in = l == 0 ? input : hidden;
    // Handles share their data with the registered parameters.
    params_.push_back(register_parameter(param_name("weight_ih", l),
                                         Tensor::uniform({rows, in}, -bound, bound, gen)));
    params_.push_back(register_parameter(param_name("weight_hh", l),
                                         Tensor::uniform({rows, hidden}, -bound, bound, gen)));
    params_.push_back(
        register_parameter(param_name("bias_ih", l), Tensor::uniform({rows}, -bound, bound, gen)));
    params_.push_back(
        register_parameter(param_name("bias_hh", l), Tensor::uniform({rows}, -bound, bound, gen)));
  }
}

Tensor& RecurrentBase::parameter(int64_t layer, size_t which) {
  BP_CHECK(layer >= 0 && layer < num_layers(), "{}: layer {} out of range (it has {})", kind_,
           layer, num_layers());
  return params_[static_cast<size_t>(layer) * 4 + which];
}

Tensor& RecurrentBase::weight_ih(int64_t layer) {
  return parameter(layer, 0);
}
Tensor& RecurrentBase::weight_hh(int64_t layer) {
  return parameter(layer, 1);
}
Tensor& RecurrentBase::bias_ih(int64_t layer) {
  return parameter(layer, 2);
}
Tensor& RecurrentBase::bias_hh(int64_t layer) {
  return parameter(layer, 3);
}

std::string RecurrentBase::describe() const {
  std::string s = fmt::format("{}, {}", options_.input, options_.hidden);
  if (options_.layers != 1) s += fmt::format(", layers={}", options_.layers);
  if (options_.sequences) s += ", sequences=true";
  return s;
}

Shape RecurrentBase::output_shape(const Shape& input_shape) const {
  const int64_t input = options_.input;
  BP_CHECK_AS(ShapeError, input_shape.size() == 2 && input_shape[0] >= 1 && input_shape[1] == input,
              "{}: expects samples of shape (seq, {}) with seq >= 1, got {}", kind_, input,
              to_string(input_shape));
  if (options_.sequences) return {input_shape[0], options_.hidden};
  return {options_.hidden};
}

Tensor RecurrentBase::forward(const Tensor& input) {
  BP_CHECK_AS(
      ShapeError,
      input.defined() && input.dim() == 3 && input.size(1) >= 1 && input.size(2) == options_.input,
      "{}: expects input of shape (batch, seq, {}) with seq >= 1, got {}", kind_, options_.input,
      input.defined() ? to_string(input.shape()) : std::string("undefined"));
  Tensor x = input;
  for (int64_t l = 0; l < num_layers(); ++l) {
    // Every layer but the last hands all its steps to the next one.
    const bool sequences = l + 1 < num_layers() || options_.sequences;
    x = recurrent(cell(), x, weight_ih(l), weight_hh(l), bias_ih(l), bias_hh(l), sequences);
  }
  return x;
}

// ---- RNN ----

RNN::RNN(const RecurrentOptions& options, Generator& gen) : RecurrentBase("RNN", 1, options, gen) {}

std::string RNN::name() const {
  return fmt::format("RNN({}{})", describe(),
                     nonlinearity() == RNNNonlinearity::relu ? ", nonlinearity=relu" : "");
}

RecurrentCell RNN::cell() const {
  return nonlinearity() == RNNNonlinearity::relu ? RecurrentCell::rnn_relu
                                                 : RecurrentCell::rnn_tanh;
}

std::shared_ptr<Module> RNN::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<RNN>(options(), scratch);
}

// ---- LSTM ----

LSTM::LSTM(const RecurrentOptions& options, Generator& gen)
    : RecurrentBase("LSTM", 4, options, gen) {}

std::string LSTM::name() const {
  return fmt::format("LSTM({})", describe());
}

std::shared_ptr<Module> LSTM::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<LSTM>(options(), scratch);
}

// ---- GRU ----

GRU::GRU(const RecurrentOptions& options, Generator& gen) : RecurrentBase("GRU", 3, options, gen) {}

std::string GRU::name() const {
  return fmt::format("GRU({})", describe());
}

std::shared_ptr<Module> GRU::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<GRU>(options(), scratch);
}

// ---- MultiheadAttention ----

MultiheadAttention::MultiheadAttention(const AttentionOptions& options, Generator& gen)
    : options_(options) {
  const int64_t dim = options.dim, heads = options.heads;
  BP_CHECK_AS(ValueError, dim > 0 && heads > 0,
              "MultiheadAttention: dim and heads must be positive (got {} and {})", dim, heads);
  BP_CHECK_AS(ValueError, dim % heads == 0,
              "MultiheadAttention: dim {} is not divisible by heads {}", dim, heads);
  // Xavier-uniform over q, k and v stacked: fan_in dim, fan_out 3·dim.
  const float stacked = std::sqrt(6.0f / static_cast<float>(4 * dim));
  auto projection = [&](const char* child, bool xavier) {
    auto p = std::make_shared<Linear>(dim, dim, gen);
    if (xavier) init::uniform(p->weight(), -stacked, stacked, gen);
    init::zeros(p->bias());
    register_module(child, p);
    return p;
  };
  q_ = projection("q_proj", true);
  k_ = projection("k_proj", true);
  v_ = projection("v_proj", true);
  out_ = projection("out_proj", false);
}

std::string MultiheadAttention::name() const {
  return fmt::format("MultiheadAttention({}, heads={}{})", embed_dim(), num_heads(),
                     causal() ? ", causal=true" : "");
}

std::shared_ptr<Module> MultiheadAttention::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<MultiheadAttention>(options_, scratch);
}

Shape MultiheadAttention::output_shape(const Shape& input_shape) const {
  BP_CHECK_AS(ShapeError,
              input_shape.size() == 2 && input_shape[0] >= 1 && input_shape[1] == embed_dim(),
              "MultiheadAttention: expects samples of shape (seq, {}) with seq >= 1, got {}",
              embed_dim(), to_string(input_shape));
  return input_shape;
}

Tensor MultiheadAttention::forward(const Tensor& input) {
  BP_CHECK_AS(
      ShapeError,
      input.defined() && input.dim() == 3 && input.size(1) >= 1 && input.size(2) == embed_dim(),
      "MultiheadAttention: expects input of shape (batch, seq, {}) with seq >= 1, got {}",
      embed_dim(), input.defined() ? to_string(input.shape()) : std::string("undefined"));
  const int64_t batch = input.size(0), seq = input.size(1), dim = embed_dim(), h = num_heads();
  const int64_t d = dim / h;
  // (batch, seq, embed) -> (batch, heads, seq, d)
  auto heads = [&](const Tensor& t) {
    return permute(reshape(t, {batch, seq, h, d}), {0, 2, 1, 3});
  };
  Tensor q = heads(q_->forward(input));
  Tensor k = heads(k_->forward(input));
  Tensor v = heads(v_->forward(input));
  Tensor scores = matmul(q, transpose(k, -2, -1)) * (1.0f / std::sqrt(static_cast<float>(d)));
  if (causal()) scores = add(scores, causal_mask(seq));
  Tensor context = matmul(softmax(scores, -1), v);  // (batch, heads, seq, d)
  Tensor merged = reshape(permute(context, {0, 2, 1, 3}), {batch, seq, dim});
  return out_->forward(merged);
}

}  // namespace bp::nn

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

// The additive causal mask (seq, seq): 0 where key ≤ query, -1e9 above the diagonal. After the
// softmax the masked weights are exactly 0 (exp underflows), so no gradient reaches later steps.
Tensor causal_mask(int64_t seq) {
  Tensor mask = Tensor::zeros({seq, seq});
  float* m = mask.data();
  for (int64_t q = 0; q < seq; ++q)
    for (int64_t k = q + 1; k < seq; ++k) m[q * seq + k] = -1e9f;
  return mask;
}

}  // namespace

// ---- RecurrentBase ----

RecurrentBase::RecurrentBase(const char* kind, int64_t gates, int64_t input_size,
                             int64_t hidden_size, int64_t num_layers, bool return_sequences,
                             Generator& gen)
    : kind_(kind),
      input_size_(input_size),
      hidden_size_(hidden_size),
      num_layers_(num_layers),
      return_sequences_(return_sequences) {
  BP_CHECK_AS(ValueError, input_size > 0 && hidden_size > 0 && num_layers > 0,
              "{}: input_size, hidden_size and num_layers must be positive (got {}, {}, {})", kind,
              input_size, hidden_size, num_layers);
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden_size));
  const int64_t rows = gates * hidden_size;
  for (int64_t l = 0; l < num_layers; ++l) {
    const int64_t in = l == 0 ? input_size : hidden_size;
    // Handles share their data with the registered parameters.
    params_.push_back(register_parameter(param_name("weight_ih", l),
                                         Tensor::uniform({rows, in}, -bound, bound, gen)));
    params_.push_back(register_parameter(param_name("weight_hh", l),
                                         Tensor::uniform({rows, hidden_size}, -bound, bound, gen)));
    params_.push_back(
        register_parameter(param_name("bias_ih", l), Tensor::uniform({rows}, -bound, bound, gen)));
    params_.push_back(
        register_parameter(param_name("bias_hh", l), Tensor::uniform({rows}, -bound, bound, gen)));
  }
}

Tensor& RecurrentBase::parameter(int64_t layer, size_t which) {
  BP_CHECK(layer >= 0 && layer < num_layers_, "{}: layer {} out of range (it has {})", kind_, layer,
           num_layers_);
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
  std::string s = fmt::format("{}, {}", input_size_, hidden_size_);
  if (num_layers_ != 1) s += fmt::format(", layers={}", num_layers_);
  if (return_sequences_) s += ", sequences=true";
  return s;
}

Shape RecurrentBase::output_shape(const Shape& input_shape) const {
  BP_CHECK_AS(ShapeError,
              input_shape.size() == 2 && input_shape[0] >= 1 && input_shape[1] == input_size_,
              "{}: expects samples of shape (seq, {}) with seq >= 1, got {}", kind_, input_size_,
              to_string(input_shape));
  if (return_sequences_) return {input_shape[0], hidden_size_};
  return {hidden_size_};
}

Tensor RecurrentBase::forward(const Tensor& input) {
  BP_CHECK_AS(
      ShapeError,
      input.defined() && input.dim() == 3 && input.size(1) >= 1 && input.size(2) == input_size_,
      "{}: expects input of shape (batch, seq, {}) with seq >= 1, got {}", kind_, input_size_,
      input.defined() ? to_string(input.shape()) : std::string("undefined"));
  Tensor x = input;
  for (int64_t l = 0; l < num_layers_; ++l) {
    // Every layer but the last hands all its steps to the next one.
    const bool sequences = l + 1 < num_layers_ || return_sequences_;
    x = recurrent(cell(), x, weight_ih(l), weight_hh(l), bias_ih(l), bias_hh(l), sequences);
  }
  return x;
}

// ---- RNN ----

RNN::RNN(int64_t input_size, int64_t hidden_size, int64_t num_layers, bool return_sequences,
         RNNNonlinearity nonlinearity, Generator& gen)
    : RecurrentBase("RNN", 1, input_size, hidden_size, num_layers, return_sequences, gen),
      nonlinearity_(nonlinearity) {}

std::string RNN::name() const {
  return fmt::format("RNN({}{})", describe(),
                     nonlinearity_ == RNNNonlinearity::relu ? ", nonlinearity=relu" : "");
}

RecurrentCell RNN::cell() const {
  return nonlinearity_ == RNNNonlinearity::relu ? RecurrentCell::rnn_relu : RecurrentCell::rnn_tanh;
}

// ---- LSTM ----

LSTM::LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers, bool return_sequences,
           Generator& gen)
    : RecurrentBase("LSTM", 4, input_size, hidden_size, num_layers, return_sequences, gen) {}

std::string LSTM::name() const {
  return fmt::format("LSTM({})", describe());
}

// ---- GRU ----

GRU::GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers, bool return_sequences,
         Generator& gen)
    : RecurrentBase("GRU", 3, input_size, hidden_size, num_layers, return_sequences, gen) {}

std::string GRU::name() const {
  return fmt::format("GRU({})", describe());
}

// ---- MultiheadAttention ----

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool causal,
                                       Generator& gen)
    : embed_dim_(embed_dim), num_heads_(num_heads), causal_(causal) {
  BP_CHECK_AS(ValueError, embed_dim > 0 && num_heads > 0,
              "MultiheadAttention: embed_dim and num_heads must be positive (got {} and {})",
              embed_dim, num_heads);
  BP_CHECK_AS(ValueError, embed_dim % num_heads == 0,
              "MultiheadAttention: embed_dim {} is not divisible by num_heads {}", embed_dim,
              num_heads);
  auto projection = [&](const char* child, bool xavier) {
    auto p = std::make_shared<Linear>(embed_dim, embed_dim, true, gen);
    if (xavier) init::xavier_uniform(p->weight(), gen);
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
  return fmt::format("MultiheadAttention({}, heads={}{})", embed_dim_, num_heads_,
                     causal_ ? ", causal=true" : "");
}

Shape MultiheadAttention::output_shape(const Shape& input_shape) const {
  BP_CHECK_AS(ShapeError,
              input_shape.size() == 2 && input_shape[0] >= 1 && input_shape[1] == embed_dim_,
              "MultiheadAttention: expects samples of shape (seq, {}) with seq >= 1, got {}",
              embed_dim_, to_string(input_shape));
  return input_shape;
}

Tensor MultiheadAttention::forward(const Tensor& input) {
  BP_CHECK_AS(
      ShapeError,
      input.defined() && input.dim() == 3 && input.size(1) >= 1 && input.size(2) == embed_dim_,
      "MultiheadAttention: expects input of shape (batch, seq, {}) with seq >= 1, got {}",
      embed_dim_, input.defined() ? to_string(input.shape()) : std::string("undefined"));
  const int64_t batch = input.size(0), seq = input.size(1), d = embed_dim_ / num_heads_;
  // (batch, seq, embed) -> (batch, heads, seq, d)
  auto heads = [&](const Tensor& t) {
    return permute(reshape(t, {batch, seq, num_heads_, d}), {0, 2, 1, 3});
  };
  Tensor q = heads(q_->forward(input));
  Tensor k = heads(k_->forward(input));
  Tensor v = heads(v_->forward(input));
  Tensor scores = matmul(q, transpose(k, -2, -1)) * (1.0f / std::sqrt(static_cast<float>(d)));
  if (causal_) scores = add(scores, causal_mask(seq));
  Tensor context = matmul(softmax(scores, -1), v);  // (batch, heads, seq, d)
  Tensor merged = reshape(permute(context, {0, 2, 1, 3}), {batch, seq, embed_dim_});
  return out_->forward(merged);
}

}  // namespace bp::nn

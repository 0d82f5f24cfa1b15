// Recurrent layers (RNN, LSTM, GRU) and multi-head attention over sequences.
//
// Each layer of an RNN, LSTM or GRU is one op, bp::recurrent, whose backward is backpropagation
// through time written out by hand (src/ops/recurrent.cpp states the derivative), so that a layer
// costs the autograd engine one node however long the sequence. Attention is built from the
// differentiable ops of ops.hpp (linear, matmul, softmax, permute).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/random.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// The cell of a recurrent layer (the formulas are those of nn::RNN, nn::LSTM and nn::GRU below).
enum class RecurrentCell { rnn_tanh, rnn_relu, lstm, gru };

// One recurrent layer over a batch of sequences, from h_0 = 0 (and c_0 = 0): x (batch, steps,
// input), w_ih (gates·hidden, input), w_hh (gates·hidden, hidden), b_ih and b_hh (gates·hidden),
// with gates 1 (RNN), 4 (LSTM) or 3 (GRU) and PyTorch's layouts and gate orders. Returns every
// step's h, (batch, steps, hidden), with `sequences`, otherwise the last step's (batch, hidden).
// Recorded as OpKind rnn, lstm or gru. Throws bp::Error on an undefined tensor, x not 3-D with at
// least one step, or parameters whose shapes do not fit x and each other.
BP_API Tensor recurrent(RecurrentCell cell, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                        const Tensor& b_ih, const Tensor& b_hh, bool sequences);

}  // namespace bp

namespace bp::nn {

// The activation of a plain (Elman) RNN cell.
enum class RNNNonlinearity { tanh, relu };

// The settings of a recurrent layer: LSTM({.input = 8, .hidden = 32, .sequences = true}). The
// nonlinearity is RNN's only (LSTM and GRU refuse another than tanh).
struct RecurrentOptions {
  int64_t input = 0;       // input features (required)
  int64_t hidden = 0;      // hidden state size (required)
  int64_t layers = 1;      // cells stacked
  bool sequences = false;  // every step's output, not only the last
  RNNNonlinearity nonlinearity = RNNNonlinearity::tanh;
};

// Shared by RNN, LSTM and GRU: a stack of `num_layers` cells run over the time axis.
//
// Input (batch, seq, input_size); output (batch, seq, hidden_size) with return_sequences (the
// last layer's hidden state at every step), otherwise (batch, hidden_size) (its state after the
// last step). The initial hidden (and cell) state is zero. Layer l has parameters, in this order
// and with PyTorch's names and layouts:
//   weight_ih_l{l} (gates·hidden, in)  weight_hh_l{l} (gates·hidden, hidden)
//   bias_ih_l{l} (gates·hidden)        bias_hh_l{l} (gates·hidden)
// where `in` is input_size for layer 0 and hidden_size above, and every value is drawn from
// U(-1/√hidden, 1/√hidden). forward() throws bp::Error unless the input is 3-D with last extent
// input_size and at least one step.
class BP_API RecurrentBase : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  // Each sample's sequence is its own: the trainer may split a batch across threads.
  bool thread_safe_forward() const override { return true; }
  // (seq, input_size) -> (seq, hidden) or (hidden); throws bp::Error on any other shape.
  Shape output_shape(const Shape& input_shape) const override;

  const RecurrentOptions& options() const { return options_; }
  int64_t input_size() const { return options_.input; }
  int64_t hidden_size() const { return options_.hidden; }
  int64_t num_layers() const { return options_.layers; }
  bool return_sequences() const { return options_.sequences; }
  // The four parameters of one layer (0-based); throws bp::Error when `layer` is out of range.
  Tensor& weight_ih(int64_t layer);
  Tensor& weight_hh(int64_t layer);
  Tensor& bias_ih(int64_t layer);
  Tensor& bias_hh(int64_t layer);

 protected:
  // `gates` is how many hidden-sized blocks the cell projects to (1 RNN, 4 LSTM, 3 GRU). Throws
  // bp::Error naming the field unless every size is positive. `kind` names the layer in errors.
  RecurrentBase(const char* kind, int64_t gates, const RecurrentOptions& options, Generator& gen);

  // The cell every layer of the stack runs (bp::recurrent).
  virtual RecurrentCell cell() const = 0;
  // Description of the sizes and options, for name().
  std::string describe() const;
  const char* kind_;

 private:
  Tensor& parameter(int64_t layer, size_t which);
  RecurrentOptions options_;
  std::vector<Tensor> params_;  // weight_ih, weight_hh, bias_ih, bias_hh per layer
};

// Elman RNN: h_t = act(W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh), act tanh or relu.
class BP_API RNN : public RecurrentBase {
 public:
  explicit RNN(const RecurrentOptions& options, Generator& gen = default_generator());
  std::string name() const override;
  RNNNonlinearity nonlinearity() const { return options().nonlinearity; }

 protected:
  RecurrentCell cell() const override;
  std::shared_ptr<Module> replicate() const override;
};

// Long short-term memory, gates in PyTorch's order (i, f, g, o) along the rows of each weight:
//   i = σ(·), f = σ(·), g = tanh(·), o = σ(·)   (each · is W_ih·x + b_ih + W_hh·h + b_hh)
//   c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
class BP_API LSTM : public RecurrentBase {
 public:
  explicit LSTM(const RecurrentOptions& options, Generator& gen = default_generator());
  std::string name() const override;

 protected:
  RecurrentCell cell() const override { return RecurrentCell::lstm; }
  std::shared_ptr<Module> replicate() const override;
};

// Gated recurrent unit, gates in PyTorch's order (r, z, n):
//   r = σ(W_ir·x + b_ir + W_hr·h + b_hr),  z = σ(W_iz·x + b_iz + W_hz·h + b_hz)
//   n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)),  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
class BP_API GRU : public RecurrentBase {
 public:
  explicit GRU(const RecurrentOptions& options, Generator& gen = default_generator());
  std::string name() const override;

 protected:
  RecurrentCell cell() const override { return RecurrentCell::gru; }
  std::shared_ptr<Module> replicate() const override;
};

// The settings of MultiheadAttention: MultiheadAttention({.dim = 64, .heads = 4}).
struct AttentionOptions {
  int64_t dim = 0;    // embedding dimension (required)
  int64_t heads = 0;  // (required)
  bool causal = false;
};

// The additive causal mask (seq, seq) of MultiheadAttention: 0 where key <= query, -1e9 above the
// diagonal. Throws bp::Error unless seq >= 1.
BP_API Tensor causal_mask(int64_t seq);

// Multi-head scaled dot-product self-attention on (batch, seq, embed_dim):
//   Q = x·W_qᵀ + b_q, K = x·W_kᵀ + b_k, V = x·W_vᵀ + b_v, split into num_heads heads of
//   d = embed_dim / num_heads;  head = softmax(Q·Kᵀ/√d + M)·V;  out = concat(heads)·W_oᵀ + b_o
// With `causal`, M adds -1e9 wherever a key comes after the query, so position t attends only to
// positions ≤ t (the masked weights are exactly 0). The projections are the children q_proj,
// k_proj, v_proj and out_proj (Linear(embed_dim, embed_dim)); as PyTorch initialises them, the
// q/k/v weights are U(±√(6 / (4·embed_dim))) (Xavier-uniform over the three stacked, as one
// (3·embed_dim, embed_dim) matrix), out_proj's weight is U(±1/√embed_dim), all biases start at 0.
// The constructor throws bp::Error naming the field unless both sizes are positive and heads
// divides dim; forward() throws unless the input is 3-D with last extent dim.
class BP_API MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const AttentionOptions& options,
                              Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  // (seq, embed_dim) -> the same; throws bp::Error on any other shape.
  Shape output_shape(const Shape& input_shape) const override;

  const AttentionOptions& options() const { return options_; }
  int64_t embed_dim() const { return options_.dim; }
  int64_t num_heads() const { return options_.heads; }
  bool causal() const { return options_.causal; }
  Linear& q_proj() { return *q_; }
  Linear& k_proj() { return *k_; }
  Linear& v_proj() { return *v_; }
  Linear& out_proj() { return *out_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  AttentionOptions options_;
  std::shared_ptr<Linear> q_, k_, v_, out_;
};

}  // namespace bp::nn

// The recurrent layer op: a whole sequence through one RNN, LSTM or GRU layer as one node, its
// backward backpropagation through time (the kernels in kernels/recurrent.hpp run both).
//
// Forward, per step t from h_0 = c_0 = 0, with a = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh:
//   RNN   h_t = act(a)
//   LSTM  i, f, o = σ(a_i), σ(a_f), σ(a_o); g = tanh(a_g); c_t = f·c_{t-1} + i·g; h_t = o·tanh(c_t)
//   GRU   r, z = σ(a_r), σ(a_z); n = tanh(W_in·x_t + b_in + r·hn), hn = W_hn·h_{t-1} + b_hn;
//         h_t = (1 - z)·n + z·h_{t-1}
// Backward, from t = T-1 down, with dh_t = gy_t + (what step t+1 sends back) and δ the gradient of
// the step's pre-activations (per element in kernels/recurrent.hpp: rnn_, lstm_,
// gru_cell_backward):
//   dW_ih += δ_ihᵀ·x_t, db_ih += δ_ih, dW_hh += δ_hhᵀ·h_{t-1}, db_hh += δ_hh, dx_t = δ_ih·W_ih,
//   dh_{t-1} = δ_hh·W_hh (+ z·dh_t for the GRU), dc_{t-1} = f·dc_t (LSTM)
// where δ_hh = δ_ih except in the GRU's n block, which is dn·r (dn the gradient of n's input).
#include "kernels/recurrent.hpp"

#include "backprop/recurrent.hpp"
#include "ops/common.hpp"

namespace bp {

using namespace ops;

namespace {

OpKind kind_of(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::lstm:
      return OpKind::lstm;
    case RecurrentCell::gru:
      return OpKind::gru;
    default:
      return OpKind::rnn;
  }
}

// The shape of the layer, after checking that x and the parameters agree.
kernels::RecurrentShape check_shapes(RecurrentCell cell, const Tensor& x, const Tensor& w_ih,
                                     const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                     bool sequences) {
  const std::string op(op_name(kind_of(cell)));
  check_defined(x, op.c_str());
  check_defined(w_ih, op.c_str(), "w_ih");
  check_defined(w_hh, op.c_str(), "w_hh");
  check_defined(b_ih, op.c_str(), "b_ih");
  check_defined(b_hh, op.c_str(), "b_hh");
  BP_CHECK(x.dim() == 3 && x.size(1) >= 1,
           "{}: x must be (batch, steps, input) with at least one step, got {}", op,
           to_string(x.shape()));
  BP_CHECK(w_hh.dim() == 2 && w_hh.size(1) >= 1,
           "{}: w_hh must be 2-D (gates·hidden, hidden), got {}", op, to_string(w_hh.shape()));
  kernels::RecurrentShape s{cell, x.size(0), x.size(1), x.size(2), w_hh.size(1), sequences};
  const int64_t rows = s.gates() * s.hidden;
  const auto expect = [&](const Tensor& t, const Shape& shape, const char* what) {
    BP_CHECK(t.shape() == shape, "{}: {} must have shape {} (hidden {}, input {}), got {}", op,
             what, to_string(shape), s.hidden, s.input, to_string(t.shape()));
  };
  expect(w_hh, {rows, s.hidden}, "w_hh");
  expect(w_ih, {rows, s.input}, "w_ih");
  expect(b_ih, {rows}, "b_ih");
  expect(b_hh, {rows}, "b_hh");
  return s;
}

}  // namespace

Tensor recurrent(RecurrentCell cell, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh, bool sequences) {
  const kernels::RecurrentShape s = check_shapes(cell, x, w_ih, w_hh, b_ih, b_hh, sequences);
  Tensor y = make_tensor(sequences ? Shape{s.batch, s.steps, s.hidden} : Shape{s.batch, s.hidden});
  Tensor workspace = make_tensor({kernels::RecurrentWorkspace(s).size});
  kernels::recurrent_forward(s, x.data(), w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data(),
                             y.data(), workspace.data());
  if (!autograd::any_requires_grad({x, w_ih, w_hh, b_ih, b_hh})) return y;
  Tensor x_saved = x.detach(), w_ih_saved = w_ih.detach(), w_hh_saved = w_hh.detach();
  const bool want_x = x.requires_grad();
  return record(
      kind_of(cell), y, {x, w_ih, w_hh, b_ih, b_hh}, {x_saved, w_ih_saved, w_hh_saved},
      [=](const Tensor& gy) -> std::vector<Tensor> {
        // All five are overwritten by the kernel.
        std::vector<Tensor> g{want_x ? make_tensor(x_saved.shape()) : Tensor(),
                              make_tensor(w_ih_saved.shape()), make_tensor(w_hh_saved.shape()),
                              make_tensor({w_hh_saved.size(0)}), make_tensor({w_hh_saved.size(0)})};
        kernels::recurrent_backward(s, x_saved.data(), w_ih_saved.data(), w_hh_saved.data(),
                                    workspace.data(), gy.data(), want_x ? g[0].data() : nullptr,
                                    g[1].data(), g[2].data(), g[3].data(), g[4].data());
        return g;
      });
}

}  // namespace bp

// Kernels of the recurrent layers (see bp::recurrent in include/backprop/recurrent.hpp for the op),
// organised as in kernels.hpp, and the per-element derivatives of the cells, which the reference
// and the fast kernels share. Internal.
#pragma once

#include <cstdint>

#include "backprop/recurrent.hpp"
#include "kernels/kernels.hpp"

namespace bp::kernels {

// One layer over a batch of sequences: x is (batch, steps, input); the weights and biases have
// PyTorch's layouts (recurrent.hpp). y is (batch, steps, hidden) with `sequences`, otherwise the
// last step's h (batch, hidden).
struct RecurrentShape {
  RecurrentCell cell;
  int64_t batch, steps, input, hidden;
  bool sequences;
  // How many hidden-sized blocks the cell projects to (1 RNN, 4 LSTM, 3 GRU).
  int64_t gates() const {
    return cell == RecurrentCell::lstm ? 4 : cell == RecurrentCell::gru ? 3 : 1;
  }
};

// What the forward pass keeps for the backward pass, time-major, at these offsets (in floats) of
// one buffer: for each step t and row b, `acts` holds the activated gates (gates·hidden: LSTM
// i, f, g, o; GRU r, z, n), `h` the new hidden state; the LSTM adds its cell state `c` and tanh(c)
// (`tanh_c`), the GRU `hn` = W_hn·h_{t-1} + b_hn (what r multiplies). An RNN's one activated gate
// is h itself: its `acts` and `h` are the same block. Absent blocks have offset -1.
struct RecurrentWorkspace {
  int64_t acts, h, c = -1, tanh_c = -1, hn = -1, size;
  explicit RecurrentWorkspace(const RecurrentShape& s) {
    const int64_t block = s.steps * s.batch * s.hidden;
    acts = 0;
    h = s.cell == RecurrentCell::rnn_tanh || s.cell == RecurrentCell::rnn_relu ? 0
                                                                               : s.gates() * block;
    size = h + block;
    if (s.cell == RecurrentCell::lstm) {
      c = size;
      tanh_c = c + block;
      size = tanh_c + block;
    } else if (s.cell == RecurrentCell::gru) {
      hn = size;
      size = hn + block;
    }
  }
};

// Forward: y and the workspace (RecurrentWorkspace(s).size floats) from x and the parameters.
using RecurrentForwardKernel = void(const RecurrentShape& s, const float* x, const float* w_ih,
                                    const float* w_hh, const float* b_ih, const float* b_hh,
                                    float* y, float* workspace);
// Backward: from gy (shaped as y) and the forward's workspace, gx (may be null: not wanted) and
// the parameters' gradients, all overwritten.
using RecurrentBackwardKernel = void(const RecurrentShape& s, const float* x, const float* w_ih,
                                     const float* w_hh, const float* workspace, const float* gy,
                                     float* gx, float* gw_ih, float* gw_hh, float* gb_ih,
                                     float* gb_hh);

// clang-format off
#define BP_RECURRENT_KERNELS(FAST, REF)             \
  FAST(recurrent_forward, RecurrentForwardKernel)   \
  FAST(recurrent_backward, RecurrentBackwardKernel)
// clang-format on
BP_DECLARE_KERNELS(BP_RECURRENT_KERNELS)

namespace onednn {
// One oneDNN matrix multiply for the input projection of every step, per step one for the hidden
// projection and one vectorised loop over the batch for every gate; backward one multiply per
// step for the gradient reaching h_{t-1}, then one each for dW_ih, dW_hh and dx over all steps.
// Within a few units in the last place of the reference per step (the sums run in another order;
// tanh is computed as 2σ(2x) - 1).
RecurrentForwardKernel recurrent_forward;
RecurrentBackwardKernel recurrent_backward;
}  // namespace onednn

// ---- the cells' derivatives, per element (dh: the gradient reaching the new h) ----

// RNN: h = act(a); da = dh·act'(a), from h (tanh' = 1 - h², relu' = [h > 0]).
inline float rnn_cell_backward(bool relu, float h, float dh) {
  return relu ? (h > 0.0f ? dh : 0.0f) : dh * (1.0f - h * h);
}

// LSTM: c = f·c_prev + i·g, h = o·tanh(c). dc_next is the gradient reaching c from step t+1;
// returns the gradients of the gates' pre-activations and of c_prev.
struct LstmCellGrad {
  float di, df, dg, d_o, dc_prev;
};
inline LstmCellGrad lstm_cell_backward(float i, float f, float g, float o, float c_prev,
                                       float tanh_c, float dh, float dc_next) {
  const float dc = dc_next + dh * o * (1.0f - tanh_c * tanh_c);
  return {dc * g * i * (1.0f - i), dc * c_prev * f * (1.0f - f), dc * i * (1.0f - g * g),
          dh * tanh_c * o * (1.0f - o), dc * f};
}

// GRU: n = tanh(a_n + r·hn), h = n + z·(h_prev - n). Returns the gradients of the input-side
// pre-activations (r, z, n), of hn (the hidden side's n block; its r and z blocks equal the input
// side's) and of h_prev through the z·h_prev term.
struct GruCellGrad {
  float dr, dz, dn, dhn, dh_prev;
};
inline GruCellGrad gru_cell_backward(float r, float z, float n, float hn, float h_prev, float dh) {
  const float dn = dh * (1.0f - z) * (1.0f - n * n);
  return {dn * hn * r * (1.0f - r), dh * (h_prev - n) * z * (1.0f - z), dn, dn * r, dh * z};
}

}  // namespace bp::kernels

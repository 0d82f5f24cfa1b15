// Reference kernels of the recurrent layers: one step and one row at a time, every projection a
// plain dot product, so that each line reads as the cell's formula (recurrent.hpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/recurrent.hpp"

namespace bp::kernels::reference {

namespace {

float sigmoid(float v) {
  return activation::stable_sigmoid(v);
}

// out[r] = b[r] + w[r, :]·v for a (rows, cols) weight; v null means zero.
void affine(int64_t rows, int64_t cols, const float* w, const float* b, const float* v,
            float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float s = b[r];
    if (v)
      for (int64_t j = 0; j < cols; ++j) s += w[r * cols + j] * v[j];
    out[r] = s;
  }
}

// Views of one (step, row) of the workspace; the previous step's h and c are null at t = 0.
struct StepView {
  float *acts, *h, *c, *tanh_c, *hn;
  const float *h_prev, *c_prev;
};
StepView step_view(const RecurrentShape& s, const RecurrentWorkspace& w, float* ws, int64_t t,
                   int64_t b) {
  const int64_t H = s.hidden, row = t * s.batch + b, prev = row - s.batch;
  auto at = [&](int64_t offset, int64_t r, int64_t width) {
    return offset < 0 ? nullptr : ws + offset + r * width;
  };
  return {at(w.acts, row, s.gates() * H),
          at(w.h, row, H),
          at(w.c, row, H),
          at(w.tanh_c, row, H),
          at(w.hn, row, H),
          t > 0 ? at(w.h, prev, H) : nullptr,
          t > 0 ? at(w.c, prev, H) : nullptr};
}

// One cell from its input projection xp and hidden projection hp (gates·hidden each).
void cell_forward(const RecurrentShape& s, const float* xp, const float* hp, const StepView& v) {
  const int64_t H = s.hidden;
  for (int64_t k = 0; k < H; ++k) {
    const float h_prev = v.h_prev ? v.h_prev[k] : 0.0f;
    switch (s.cell) {
      case RecurrentCell::rnn_tanh:
        v.h[k] = std::tanh(xp[k] + hp[k]);
        break;
      case RecurrentCell::rnn_relu:
        v.h[k] = std::max(0.0f, xp[k] + hp[k]);
        break;
      case RecurrentCell::lstm: {
        const float i = sigmoid(xp[k] + hp[k]), f = sigmoid(xp[H + k] + hp[H + k]);
        const float g = std::tanh(xp[2 * H + k] + hp[2 * H + k]);
        const float o = sigmoid(xp[3 * H + k] + hp[3 * H + k]);
        const float c = f * (v.c_prev ? v.c_prev[k] : 0.0f) + i * g;
        v.acts[k] = i, v.acts[H + k] = f, v.acts[2 * H + k] = g, v.acts[3 * H + k] = o;
        v.c[k] = c;
        v.tanh_c[k] = std::tanh(c);
        v.h[k] = o * v.tanh_c[k];
        break;
      }
      case RecurrentCell::gru: {
        const float r = sigmoid(xp[k] + hp[k]), z = sigmoid(xp[H + k] + hp[H + k]);
        const float n = std::tanh(xp[2 * H + k] + r * hp[2 * H + k]);
        v.acts[k] = r, v.acts[H + k] = z, v.acts[2 * H + k] = n;
        v.hn[k] = hp[2 * H + k];
        v.h[k] = n + z * (h_prev - n);
        break;
      }
    }
  }
}

}  // namespace

void recurrent_forward(const RecurrentShape& s, const float* x, const float* w_ih,
                       const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                       float* workspace) {
  const int64_t H = s.hidden, GH = s.gates() * H, T = s.steps;
  const RecurrentWorkspace w(s);
  std::vector<float> xp(static_cast<size_t>(GH)), hp(static_cast<size_t>(GH));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < s.batch; ++b) {
      const StepView v = step_view(s, w, workspace, t, b);
      affine(GH, s.input, w_ih, b_ih, x + (b * T + t) * s.input, xp.data());
      affine(GH, H, w_hh, b_hh, v.h_prev, hp.data());
      cell_forward(s, xp.data(), hp.data(), v);
      if (s.sequences)
        std::copy(v.h, v.h + H, y + (b * T + t) * H);
      else if (t == T - 1)
        std::copy(v.h, v.h + H, y + b * H);
    }
}

namespace {

// The gradients of one cell's pre-activations, input side (dxp) and hidden side (dhp), from dh;
// dh_rec receives what reaches h_prev other than through W_hh, dc (LSTM) the gradient of c_prev.
void cell_backward(const RecurrentShape& s, const StepView& v, const float* dh, float* dxp,
                   float* dhp, float* dh_rec, float* dc) {
  const int64_t H = s.hidden;
  for (int64_t k = 0; k < H; ++k) {
    dh_rec[k] = 0.0f;
    switch (s.cell) {
      case RecurrentCell::rnn_tanh:
      case RecurrentCell::rnn_relu:
        dxp[k] = dhp[k] = rnn_cell_backward(s.cell == RecurrentCell::rnn_relu, v.h[k], dh[k]);
        break;
      case RecurrentCell::lstm: {
        const float* a = v.acts;
        const LstmCellGrad d =
            lstm_cell_backward(a[k], a[H + k], a[2 * H + k], a[3 * H + k],
                               v.c_prev ? v.c_prev[k] : 0.0f, v.tanh_c[k], dh[k], dc[k]);
        dxp[k] = dhp[k] = d.di, dxp[H + k] = dhp[H + k] = d.df;
        dxp[2 * H + k] = dhp[2 * H + k] = d.dg, dxp[3 * H + k] = dhp[3 * H + k] = d.d_o;
        dc[k] = d.dc_prev;
        break;
      }
      case RecurrentCell::gru: {
        const float* a = v.acts;
        const GruCellGrad d = gru_cell_backward(a[k], a[H + k], a[2 * H + k], v.hn[k],
                                                v.h_prev ? v.h_prev[k] : 0.0f, dh[k]);
        dxp[k] = dhp[k] = d.dr, dxp[H + k] = dhp[H + k] = d.dz;
        dxp[2 * H + k] = d.dn, dhp[2 * H + k] = d.dhn;
        dh_rec[k] = d.dh_prev;
        break;
      }
    }
  }
}

// out[j] += Σ_r g[r]·w[r, j] for a (rows, cols) weight (the gradient through out = w·v).
void add_transposed(int64_t rows, int64_t cols, const float* w, const float* g, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) out[j] += g[r] * w[r * cols + j];
}

// gw[r, :] += g[r]·v, gb[r] += g[r] (the gradients of w and b in w·v + b).
void add_outer(int64_t rows, int64_t cols, const float* g, const float* v, float* gw, float* gb) {
  for (int64_t r = 0; r < rows; ++r) {
    gb[r] += g[r];
    if (v)
      for (int64_t j = 0; j < cols; ++j) gw[r * cols + j] += g[r] * v[j];
  }
}

}  // namespace

void recurrent_backward(const RecurrentShape& s, const float* x, const float* w_ih,
                        const float* w_hh, const float* workspace, const float* gy, float* gx,
                        float* gw_ih, float* gw_hh, float* gb_ih, float* gb_hh) {
  const int64_t H = s.hidden, GH = s.gates() * H, T = s.steps, I = s.input;
  const RecurrentWorkspace w(s);
  std::fill(gw_ih, gw_ih + GH * I, 0.0f);
  std::fill(gw_hh, gw_hh + GH * H, 0.0f);
  std::fill(gb_ih, gb_ih + GH, 0.0f);
  std::fill(gb_hh, gb_hh + GH, 0.0f);
  if (gx) std::fill(gx, gx + s.batch * T * I, 0.0f);
  // Per row: the gradient reaching h (and c) from step t+1.
  std::vector<float> dh_next(static_cast<size_t>(s.batch * H)), dc(dh_next.size());
  std::vector<float> dh(static_cast<size_t>(H)), dxp(static_cast<size_t>(GH)), dhp(dxp.size());
  for (int64_t t = T - 1; t >= 0; --t)
    for (int64_t b = 0; b < s.batch; ++b) {
      // Only a view: the backward pass reads the workspace.
      const StepView v = step_view(s, w, const_cast<float*>(workspace), t, b);
      float* next = dh_next.data() + b * H;
      for (int64_t k = 0; k < H; ++k) {
        const float from_y =
            s.sequences ? gy[(b * T + t) * H + k] : (t == T - 1 ? gy[b * H + k] : 0.0f);
        dh[static_cast<size_t>(k)] = from_y + next[k];
      }
      cell_backward(s, v, dh.data(), dxp.data(), dhp.data(), next, dc.data() + b * H);
      const float* xt = x + (b * T + t) * I;
      add_outer(GH, I, dxp.data(), xt, gw_ih, gb_ih);
      add_outer(GH, H, dhp.data(), v.h_prev, gw_hh, gb_hh);
      if (gx) add_transposed(GH, I, w_ih, dxp.data(), gx + (b * T + t) * I);
      add_transposed(GH, H, w_hh, dhp.data(), next);
    }
}

}  // namespace bp::kernels::reference

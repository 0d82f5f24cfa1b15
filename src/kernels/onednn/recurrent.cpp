// Fast recurrent layers: the work of all steps that does not depend on the recurrence goes into
// one matrix multiply each (the input projection forward; dW_ih, dW_hh and dx backward), and each
// step is one multiply by W_hh plus loops over the whole batch at once, with the sigmoids and
// tanhs of a step in one call of oneDNN's eltwise primitive (kernels::unary_forward). Everything
// is time-major, so that one step's rows are contiguous. Inside a batch split across threads the
// multiplies and eltwise calls run on the calling thread (kernels/onednn/engine.hpp).
#include <algorithm>
#include <vector>

#include "kernels/recurrent.hpp"

namespace bp::kernels::onednn {

namespace {

// A scratch buffer per thread, grown when needed and reused: no allocation in a steady state.
float* scratch(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < static_cast<size_t>(floats)) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

// (rows, cols, width) -> (cols, rows, width): between batch-major and time-major.
void swap_leading(int64_t rows, int64_t cols, int64_t width, const float* in, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::copy(in + (r * cols + c) * width, in + (r * cols + c + 1) * width,
                out + (c * rows + r) * width);
}

void sigmoid(float* v, int64_t n) {
  kernels::unary_forward(Unary::sigmoid, 0.0f, 0.0f, v, v, n);
}
void tanh(const float* in, float* out, int64_t n) {
  kernels::unary_forward(Unary::tanh, 0.0f, 0.0f, in, out, n);
}

// One step's pointers: a (batch, gates·hidden) activations, h and the others (batch, hidden);
// h_prev and c_prev are null at t = 0.
struct Step {
  float *a, *h, *c, *tanh_c, *hn;
  const float *h_prev, *c_prev;
};
Step step_at(const RecurrentShape& s, const RecurrentWorkspace& w, float* ws, int64_t t) {
  const int64_t block = s.batch * s.hidden;
  auto at = [&](int64_t offset, int64_t step, int64_t width) {
    return offset < 0 || step < 0 ? nullptr : ws + offset + step * width;
  };
  return {at(w.acts, t, s.gates() * block),
          at(w.h, t, block),
          at(w.c, t, block),
          at(w.tanh_c, t, block),
          at(w.hn, t, block),
          at(w.h, t - 1, block),
          at(w.c, t - 1, block)};
}

// LSTM: a holds the pre-activations. tanh(g) = 2σ(2g) - 1 lets one sigmoid call cover all four
// gates.
void lstm_step(int64_t B, int64_t H, const Step& st) {
  const int64_t GH = 4 * H;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 2 * H; k < 3 * H; ++k) st.a[b * GH + k] *= 2.0f;
  sigmoid(st.a, B * GH);
  for (int64_t b = 0; b < B; ++b) {
    float* a = st.a + b * GH;
    for (int64_t k = 0; k < H; ++k) {
      a[2 * H + k] = 2.0f * a[2 * H + k] - 1.0f;
      st.c[b * H + k] = a[H + k] * (st.c_prev ? st.c_prev[b * H + k] : 0.0f) + a[k] * a[2 * H + k];
    }
  }
  tanh(st.c, st.tanh_c, B * H);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < H; ++k)
      st.h[b * H + k] = st.a[b * GH + 3 * H + k] * st.tanh_c[b * H + k];
}

// GRU: a holds the input side's pre-activations, hp (batch, 3·hidden) the hidden side's; n is
// computed in `n` (batch, hidden) scratch.
void gru_step(int64_t B, int64_t H, const Step& st, const float* hp, float* n) {
  const int64_t GH = 3 * H;
  for (int64_t b = 0; b < B; ++b) {
    float* a = st.a + b * GH;
    const float* p = hp + b * GH;
    for (int64_t k = 0; k < 2 * H; ++k) a[k] += p[k];
    for (int64_t k = 0; k < H; ++k) {
      st.hn[b * H + k] = p[2 * H + k];
      n[b * H + k] = a[2 * H + k];
    }
  }
  sigmoid(st.a, B * GH);  // the n block is overwritten below
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < H; ++k) n[b * H + k] += st.a[b * GH + k] * st.hn[b * H + k];
  tanh(n, n, B * H);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < H; ++k) {
      const float nk = n[b * H + k], h_prev = st.h_prev ? st.h_prev[b * H + k] : 0.0f;
      st.a[b * GH + 2 * H + k] = nk;
      st.h[b * H + k] = nk + st.a[b * GH + H + k] * (h_prev - nk);
    }
}

// Copies each step's h (time-major in the workspace) to y (batch-major, or the last step only).
void write_output(const RecurrentShape& s, const float* h_ws, float* y) {
  const int64_t block = s.batch * s.hidden;
  if (s.sequences)
    swap_leading(s.steps, s.batch, s.hidden, h_ws, y);
  else
    std::copy(h_ws + (s.steps - 1) * block, h_ws + s.steps * block, y);
}

}  // namespace

void recurrent_forward(const RecurrentShape& s, const float* x, const float* w_ih,
                       const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                       float* workspace) {
  const int64_t B = s.batch, T = s.steps, H = s.hidden, GH = s.gates() * H, I = s.input;
  const bool gru = s.cell == RecurrentCell::gru;
  const RecurrentWorkspace w(s);
  float* xt = scratch(T * B * I + B * GH + B * H);
  float *hp = xt + T * B * I, *n = hp + B * GH;
  swap_leading(B, T, I, x, xt);
  // The input projection of every step, with the hidden bias too where it adds straight to it (all
  // cells but the GRU, whose hidden projection is kept apart: r multiplies its n block).
  float* acts = workspace + w.acts;
  kernels::gemm(false, true, T * B, GH, I, 1.0f, xt, I, w_ih, I, 0.0f, acts, GH);
  for (int64_t row = 0; row < T * B; ++row)
    for (int64_t r = 0; r < GH; ++r) acts[row * GH + r] += b_ih[r] + (gru ? 0.0f : b_hh[r]);
  for (int64_t t = 0; t < T; ++t) {
    const Step st = step_at(s, w, workspace, t);
    float* hidden_out = gru ? hp : st.a;  // where h_{t-1}·W_hhᵀ goes
    if (gru)
      for (int64_t b = 0; b < B; ++b) std::copy(b_hh, b_hh + GH, hp + b * GH);
    if (st.h_prev)
      kernels::gemm(false, true, B, GH, H, 1.0f, st.h_prev, H, w_hh, H, 1.0f, hidden_out, GH);
    switch (s.cell) {
      case RecurrentCell::rnn_tanh:
        tanh(st.a, st.h, B * H);
        break;
      case RecurrentCell::rnn_relu:
        kernels::unary_forward(Unary::relu, 0.0f, 0.0f, st.a, st.h, B * H);
        break;
      case RecurrentCell::lstm:
        lstm_step(B, H, st);
        break;
      case RecurrentCell::gru:
        gru_step(B, H, st, hp, n);
        break;
    }
  }
  write_output(s, workspace + w.h, y);
}

namespace {

// One step backward over the batch: dh (batch, hidden) is the gradient reaching h_t; writes the
// pre-activations' gradients dxp (input side) and dhp (hidden side; the same buffer except for the
// GRU), updates dc (LSTM) and leaves in dh what reaches h_{t-1} other than through W_hh.
void cell_backward(const RecurrentShape& s, const Step& st, float* dh, float* dc, float* dxp,
                   float* dhp) {
  const int64_t B = s.batch, H = s.hidden, GH = s.gates() * H;
  for (int64_t b = 0; b < B; ++b) {
    const float* a = st.a + b * GH;
    float *gi = dxp + b * GH, *gh = dhp + b * GH, *d = dh + b * H;
    switch (s.cell) {
      case RecurrentCell::rnn_tanh:
      case RecurrentCell::rnn_relu:
        for (int64_t k = 0; k < H; ++k) {
          gi[k] = rnn_cell_backward(s.cell == RecurrentCell::rnn_relu, st.h[b * H + k], d[k]);
          d[k] = 0.0f;
        }
        break;
      case RecurrentCell::lstm:
        for (int64_t k = 0; k < H; ++k) {
          const LstmCellGrad g = lstm_cell_backward(a[k], a[H + k], a[2 * H + k], a[3 * H + k],
                                                    st.c_prev ? st.c_prev[b * H + k] : 0.0f,
                                                    st.tanh_c[b * H + k], d[k], dc[b * H + k]);
          gi[k] = g.di, gi[H + k] = g.df, gi[2 * H + k] = g.dg, gi[3 * H + k] = g.d_o;
          dc[b * H + k] = g.dc_prev;
          d[k] = 0.0f;
        }
        break;
      case RecurrentCell::gru:
        for (int64_t k = 0; k < H; ++k) {
          const GruCellGrad g = gru_cell_backward(a[k], a[H + k], a[2 * H + k], st.hn[b * H + k],
                                                  st.h_prev ? st.h_prev[b * H + k] : 0.0f, d[k]);
          gi[k] = gh[k] = g.dr, gi[H + k] = gh[H + k] = g.dz;
          gi[2 * H + k] = g.dn, gh[2 * H + k] = g.dhn;
          d[k] = g.dh_prev;
        }
        break;
    }
  }
}

// out[r] = Σ_rows g[row, r]: a bias gradient.
void column_sums(int64_t rows, int64_t cols, const float* g, float* out) {
  std::fill(out, out + cols, 0.0f);
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t r = 0; r < cols; ++r) out[r] += g[row * cols + r];
}

}  // namespace

void recurrent_backward(const RecurrentShape& s, const float* x, const float* w_ih,
                        const float* w_hh, const float* workspace, const float* gy, float* gx,
                        float* gw_ih, float* gw_hh, float* gb_ih, float* gb_hh) {
  const int64_t B = s.batch, T = s.steps, H = s.hidden, GH = s.gates() * H, I = s.input;
  const bool gru = s.cell == RecurrentCell::gru;
  const RecurrentWorkspace w(s);
  // Scratch: x and dx time-major, the gradients of every step's pre-activations (input side, and
  // for the GRU the hidden side), and dh and dc of one step.
  float* xt = scratch(2 * T * B * I + (gru ? 2 : 1) * T * B * GH + 2 * B * H);
  float *dxt = xt + T * B * I, *dxp = dxt + T * B * I;
  float* dhp = gru ? dxp + T * B * GH : dxp;
  float *dh = dhp + T * B * GH, *dc = dh + B * H;
  std::fill(dh, dh + 2 * B * H, 0.0f);
  float* ws = const_cast<float*>(workspace);  // read only: Step's pointers serve both passes
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < H; ++k)
        dh[b * H + k] += s.sequences ? gy[(b * T + t) * H + k] : (t == T - 1 ? gy[b * H + k] : 0);
    const Step st = step_at(s, w, ws, t);
    cell_backward(s, st, dh, dc, dxp + t * B * GH, dhp + t * B * GH);
    if (t > 0)
      kernels::gemm(false, false, B, H, GH, 1.0f, dhp + t * B * GH, GH, w_hh, H, 1.0f, dh, H);
  }
  swap_leading(B, T, I, x, xt);
  kernels::gemm(true, false, GH, I, T * B, 1.0f, dxp, GH, xt, I, 0.0f, gw_ih, I);
  // h_{t-1} pairs with step t's gradient: the steps after the first, against the h before them.
  if (T > 1)
    kernels::gemm(true, false, GH, H, (T - 1) * B, 1.0f, dhp + B * GH, GH, ws + w.h, H, 0.0f, gw_hh,
                  H);
  else
    std::fill(gw_hh, gw_hh + GH * H, 0.0f);
  column_sums(T * B, GH, dxp, gb_ih);
  column_sums(T * B, GH, dhp, gb_hh);
  if (gx) {
    kernels::gemm(false, false, T * B, I, GH, 1.0f, dxp, GH, w_ih, I, 0.0f, dxt, I);
    swap_leading(T, B, I, dxt, gx);
  }
}

}  // namespace bp::kernels::onednn

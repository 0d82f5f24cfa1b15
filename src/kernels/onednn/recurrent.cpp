// Fast recurrent layers: the work of all steps that does not depend on the recurrence goes into
// one matrix multiply each (the input projection forward; dW_ih, dW_hh and dx backward), and each
// step is one multiply by W_hh plus one pass over the batch that computes every gate with vmath's
// branch-free functions, which the compiler vectorises (measured about 10% faster per layer than
// separate passes of oneDNN's eltwise sigmoid and tanh). The multiplies are oneDNN's
// (kernels::gemm). Everything is time-major, so that one step's rows are contiguous. Inside a batch
// split across threads the multiplies run on the calling thread (kernels/onednn/engine.hpp).
#include <algorithm>
#include <bit>
#include <vector>

#include "kernels/recurrent.hpp"
#include "kernels/simd/vector_clones.hpp"
#include "kernels/simd/vector_math.hpp"

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

using simd::vmath::sigmoid;
using simd::vmath::tanh;

// (rows, cols) -> (cols, rows)
void transpose(int64_t rows, int64_t cols, const float* in, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

// One step's pointers: a (batch, gates·hidden) activations, h and the others (batch, hidden);
// at t = 0 h_prev and c_prev point at `zeros` (batch·hidden of them).
struct Step {
  float *a, *h, *c, *tanh_c, *hn;
  const float *h_prev, *c_prev;
};
Step step_at(const RecurrentShape& s, const RecurrentWorkspace& w, float* ws, int64_t t,
             const float* zeros) {
  const int64_t block = s.batch * s.hidden;
  auto at = [&](int64_t offset, int64_t step, int64_t width) {
    return offset < 0 ? nullptr : ws + offset + step * width;
  };
  return {at(w.acts, t, s.gates() * block),
          at(w.h, t, block),
          at(w.c, t, block),
          at(w.tanh_c, t, block),
          at(w.hn, t, block),
          t > 0 ? at(w.h, t - 1, block) : zeros,
          t > 0 && w.c >= 0 ? at(w.c, t - 1, block) : zeros};
}

// The step loops below read and write through distinct buffers (restrict pointers), so that they
// vectorise, and are compiled for the widest vectors the CPU has (chosen when the library loads).
// LSTM, one row: a holds the pre-activations, replaced by the gates.
BP_VECTOR_CLONES void lstm_row(int64_t H, float* __restrict a, const float* __restrict c_prev,
                               float* __restrict c, float* __restrict tanh_c, float* __restrict h) {
  for (int64_t k = 0; k < H; ++k) {
    const float i = sigmoid(a[k]), f = sigmoid(a[H + k]), g = tanh(a[2 * H + k]);
    const float o = sigmoid(a[3 * H + k]);
    c[k] = f * c_prev[k] + i * g;
    tanh_c[k] = tanh(c[k]);
    h[k] = o * tanh_c[k];
    a[k] = i, a[H + k] = f, a[2 * H + k] = g, a[3 * H + k] = o;
  }
}
void lstm_step(int64_t B, int64_t H, const Step& st) {
  for (int64_t b = 0; b < B; ++b)
    lstm_row(H, st.a + b * 4 * H, st.c_prev + b * H, st.c + b * H, st.tanh_c + b * H, st.h + b * H);
}

// GRU, one row: a holds the input side's pre-activations, replaced by the gates; p the hidden
// side's.
BP_VECTOR_CLONES void gru_row(int64_t H, float* __restrict a, const float* __restrict p,
                              const float* __restrict h_prev, float* __restrict hn,
                              float* __restrict h) {
  for (int64_t k = 0; k < H; ++k) {
    const float r = sigmoid(a[k] + p[k]), z = sigmoid(a[H + k] + p[H + k]);
    const float n = tanh(a[2 * H + k] + r * p[2 * H + k]);
    a[k] = r, a[H + k] = z, a[2 * H + k] = n;
    hn[k] = p[2 * H + k];
    h[k] = n + z * (h_prev[k] - n);
  }
}
void gru_step(int64_t B, int64_t H, const Step& st, const float* hp) {
  for (int64_t b = 0; b < B; ++b)
    gru_row(H, st.a + b * 3 * H, hp + b * 3 * H, st.h_prev + b * H, st.hn + b * H, st.h + b * H);
}

// RNN: h = act(a), in place (a and h are the same block).
BP_VECTOR_CLONES void rnn_step(int64_t n, bool relu, float* a) {
  if (relu)
    for (int64_t i = 0; i < n; ++i) a[i] = std::max(a[i], 0.0f);
  else
    for (int64_t i = 0; i < n; ++i) a[i] = tanh(a[i]);
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
  float* xt = scratch(T * B * I + B * GH + H * GH + B * H);
  float *hp = xt + T * B * I, *w_hh_t = hp + B * GH, *zeros = w_hh_t + H * GH;
  std::fill(zeros, zeros + B * H, 0.0f);
  swap_leading(B, T, I, x, xt);
  transpose(GH, H, w_hh, w_hh_t);  // W_hhᵀ as stored: oneDNN multiplies it faster
  // The input projection of every step, with the hidden bias too where it adds straight to it (all
  // cells but the GRU, whose hidden projection is kept apart: r multiplies its n block).
  float* acts = workspace + w.acts;
  kernels::gemm(false, true, T * B, GH, I, 1.0f, xt, I, w_ih, I, 0.0f, acts, GH);
  for (int64_t row = 0; row < T * B; ++row)
    for (int64_t r = 0; r < GH; ++r) acts[row * GH + r] += b_ih[r] + (gru ? 0.0f : b_hh[r]);
  for (int64_t t = 0; t < T; ++t) {
    const Step st = step_at(s, w, workspace, t, zeros);
    float* hidden_out = gru ? hp : st.a;  // where h_{t-1}·W_hhᵀ goes
    if (gru)
      for (int64_t b = 0; b < B; ++b) std::copy(b_hh, b_hh + GH, hp + b * GH);
    if (t > 0)
      kernels::gemm(false, false, B, GH, H, 1.0f, st.h_prev, H, w_hh_t, GH, 1.0f, hidden_out, GH);
    if (s.cell == RecurrentCell::lstm)
      lstm_step(B, H, st);
    else if (gru)
      gru_step(B, H, st, hp);
    else
      rnn_step(B * H, s.cell == RecurrentCell::rnn_relu, st.a);
  }
  write_output(s, workspace + w.h, y);
}

namespace {

// One row of one step backward: d is the gradient reaching h_t, replaced by what reaches h_{t-1}
// other than through W_hh; gi receives the gradients of the pre-activations (input side; for the
// GRU gh the hidden side's, which differ in the n block); dc (LSTM) goes from c_t's to c_{t-1}'s.
BP_VECTOR_CLONES void lstm_row_backward(int64_t H, const float* __restrict a,
                                        const float* __restrict c_prev,
                                        const float* __restrict tanh_c, float* __restrict d,
                                        float* __restrict dc, float* __restrict gi) {
  for (int64_t k = 0; k < H; ++k) {
    const LstmCellGrad g = lstm_cell_backward(a[k], a[H + k], a[2 * H + k], a[3 * H + k], c_prev[k],
                                              tanh_c[k], d[k], dc[k]);
    gi[k] = g.di, gi[H + k] = g.df, gi[2 * H + k] = g.dg, gi[3 * H + k] = g.d_o;
    dc[k] = g.dc_prev;
    d[k] = 0.0f;
  }
}
BP_VECTOR_CLONES void gru_row_backward(int64_t H, const float* __restrict a,
                                       const float* __restrict hn, const float* __restrict h_prev,
                                       float* __restrict d, float* __restrict gi,
                                       float* __restrict gh) {
  for (int64_t k = 0; k < H; ++k) {
    const GruCellGrad g = gru_cell_backward(a[k], a[H + k], a[2 * H + k], hn[k], h_prev[k], d[k]);
    gi[k] = gh[k] = g.dr, gi[H + k] = gh[H + k] = g.dz;
    gi[2 * H + k] = g.dn, gh[2 * H + k] = g.dhn;
    d[k] = g.dh_prev;
  }
}
BP_VECTOR_CLONES void rnn_row_backward(int64_t H, bool relu, const float* __restrict h,
                                       float* __restrict d, float* __restrict gi) {
  for (int64_t k = 0; k < H; ++k) {
    gi[k] = rnn_cell_backward(relu, h[k], d[k]);
    d[k] = 0.0f;
  }
}

// One step backward over the batch (dh, dc: batch × hidden; dxp, dhp: batch × gates·hidden, the
// same buffer except for the GRU).
void cell_backward(const RecurrentShape& s, const Step& st, float* dh, float* dc, float* dxp,
                   float* dhp) {
  const int64_t H = s.hidden, GH = s.gates() * H;
  for (int64_t b = 0; b < s.batch; ++b) {
    const int64_t row = b * H;
    if (s.cell == RecurrentCell::lstm)
      lstm_row_backward(H, st.a + b * GH, st.c_prev + row, st.tanh_c + row, dh + row, dc + row,
                        dxp + b * GH);
    else if (s.cell == RecurrentCell::gru)
      gru_row_backward(H, st.a + b * GH, st.hn + row, st.h_prev + row, dh + row, dxp + b * GH,
                       dhp + b * GH);
    else
      rnn_row_backward(H, s.cell == RecurrentCell::rnn_relu, st.h + row, dh + row, dxp + b * GH);
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
  // for the GRU the hidden side), dh and dc of one step, and the zero state before the first.
  float* xt = scratch(2 * T * B * I + (gru ? 2 : 1) * T * B * GH + 3 * B * H);
  float *dxt = xt + T * B * I, *dxp = dxt + T * B * I;
  float* dhp = gru ? dxp + T * B * GH : dxp;
  float *dh = dhp + T * B * GH, *dc = dh + B * H, *zeros = dc + B * H;
  std::fill(dh, dh + 3 * B * H, 0.0f);
  float* ws = const_cast<float*>(workspace);  // read only: Step's pointers serve both passes
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < H; ++k)
        dh[b * H + k] += s.sequences ? gy[(b * T + t) * H + k] : (t == T - 1 ? gy[b * H + k] : 0);
    const Step st = step_at(s, w, ws, t, zeros);
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
  if (gru)
    column_sums(T * B, GH, dhp, gb_hh);
  else
    std::copy(gb_ih, gb_ih + GH, gb_hh);  // the same gradients on both sides
  if (gx) {
    kernels::gemm(false, false, T * B, I, GH, 1.0f, dxp, GH, w_ih, I, 0.0f, dxt, I);
    swap_leading(T, B, I, dxt, gx);
  }
}

}  // namespace bp::kernels::onednn

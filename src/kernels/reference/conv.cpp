// Reference convolution and pooling: direct loops over every output (or input) element, written
// to be read. Each (image, channel) plane is independent, so planes are split across threads.
#include <algorithm>
#include <limits>

#include "kernels/conv.hpp"

namespace bp::kernels::reference {

namespace {

// Input coordinate of output coordinate `o` at kernel tap `k` (may fall in the padding).
inline int64_t input_at(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return o * stride - pad + k * dil;
}

}  // namespace

// y[n, o, i, j] = b[o] + Σ_{c in o's group, p, q} x[n, c, i·s - pad + p·d, j·s - pad + q·d]·w[o, c,
// p, q]
void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias,
                    float* y) {
  const int64_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c_out; ++plane) {
    const int64_t n = plane / s.c_out, o = plane % s.c_out, g = o / cout_g;
    float* out = y + plane * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i)
      for (int64_t j = 0; j < s.ow; ++j) {
        float acc = bias ? bias[o] : 0.0f;
        for (int64_t c = 0; c < cin_g; ++c) {
          const float* xp = x + (n * s.c_in + g * cin_g + c) * s.h * s.w;
          const float* wp = weight + (o * cin_g + c) * s.kh * s.kw;
          for (int64_t p = 0; p < s.kh; ++p) {
            const int64_t ih = input_at(i, p, s.stride_h, s.pad_h, s.dil_h);
            if (ih < 0 || ih >= s.h) continue;
            for (int64_t q = 0; q < s.kw; ++q) {
              const int64_t iw = input_at(j, q, s.stride_w, s.pad_w, s.dil_w);
              if (iw < 0 || iw >= s.w) continue;
              acc += xp[ih * s.w + iw] * wp[p * s.kw + q];
            }
          }
        }
        out[i * s.ow + j] = acc;
      }
  }
}

// gx[n, c, ih, iw] = Σ gy[n, o, i, j]·w[o, c, p, q] over every (o, i, j, p, q) whose tap reads
// (ih, iw), i.e. ih = i·s - pad + p·d.
void conv2d_backward_data(const ConvShape& s, const float* gy, const float* weight, float* gx) {
  const int64_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c_in; ++plane) {
    const int64_t n = plane / s.c_in, c = plane % s.c_in, g = c / cin_g, cg = c % cin_g;
    float* out = gx + plane * s.h * s.w;
    for (int64_t ih = 0; ih < s.h; ++ih)
      for (int64_t iw = 0; iw < s.w; ++iw) {
        float acc = 0.0f;
        for (int64_t p = 0; p < s.kh; ++p) {
          const int64_t ti = ih + s.pad_h - p * s.dil_h;  // = i·stride for the output row i
          if (ti < 0 || ti % s.stride_h != 0 || ti / s.stride_h >= s.oh) continue;
          const int64_t i = ti / s.stride_h;
          for (int64_t q = 0; q < s.kw; ++q) {
            const int64_t tj = iw + s.pad_w - q * s.dil_w;
            if (tj < 0 || tj % s.stride_w != 0 || tj / s.stride_w >= s.ow) continue;
            const int64_t j = tj / s.stride_w;
            for (int64_t og = 0; og < cout_g; ++og) {
              const int64_t o = g * cout_g + og;
              acc += gy[((n * s.c_out + o) * s.oh + i) * s.ow + j] *
                     weight[((o * cin_g + cg) * s.kh + p) * s.kw + q];
            }
          }
        }
        out[ih * s.w + iw] = acc;
      }
  }
}

// gw[o, c, p, q] = Σ_{n, i, j} gy[n, o, i, j]·x[n, c, i·s - pad + p·d, j·s - pad + q·d]
void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw,
                             float* gb) {
  const int64_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < s.c_out; ++o) {
    const int64_t g = o / cout_g;
    for (int64_t c = 0; c < cin_g; ++c)
      for (int64_t p = 0; p < s.kh; ++p)
        for (int64_t q = 0; q < s.kw; ++q) {
          float acc = 0.0f;
          for (int64_t n = 0; n < s.n; ++n) {
            const float* xp = x + (n * s.c_in + g * cin_g + c) * s.h * s.w;
            const float* gp = gy + (n * s.c_out + o) * s.oh * s.ow;
            for (int64_t i = 0; i < s.oh; ++i) {
              const int64_t ih = input_at(i, p, s.stride_h, s.pad_h, s.dil_h);
              if (ih < 0 || ih >= s.h) continue;
              for (int64_t j = 0; j < s.ow; ++j) {
                const int64_t iw = input_at(j, q, s.stride_w, s.pad_w, s.dil_w);
                if (iw < 0 || iw >= s.w) continue;
                acc += gp[i * s.ow + j] * xp[ih * s.w + iw];
              }
            }
          }
          gw[((o * cin_g + c) * s.kh + p) * s.kw + q] = acc;
        }
  }
  if (gb) channel_sum(s.n, s.c_out, s.oh * s.ow, gy, gb);
}

void channel_sum(int64_t n, int64_t c, int64_t hw, const float* gy, float* gb) {
  for (int64_t k = 0; k < c; ++k) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n; ++b) {
      const float* p = gy + (b * c + k) * hw;
      for (int64_t i = 0; i < hw; ++i) acc += p[i];
    }
    gb[k] = acc;
  }
}

void add_channel_bias(int64_t n, int64_t c, int64_t hw, const float* bias, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const float b = bias[plane % c];
    float* p = y + plane * hw;
    for (int64_t i = 0; i < hw; ++i) p[i] += b;
  }
}

// y[n, c, i, j] = max over the window's real elements; workspace = index (ih·w + iw) of the first
// maximum. Padding never wins: every window holds a real element because pad <= kernel / 2.
void max_pool2d_forward(const PoolShape& s, const float* x, float* y, int32_t* workspace) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c; ++plane) {
    const float* xp = x + plane * s.h * s.w;
    for (int64_t i = 0; i < s.oh; ++i)
      for (int64_t j = 0; j < s.ow; ++j) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t where = -1;
        for (int64_t p = 0; p < s.kh; ++p) {
          const int64_t ih = i * s.stride_h - s.pad_h + p;
          if (ih < 0 || ih >= s.h) continue;
          for (int64_t q = 0; q < s.kw; ++q) {
            const int64_t iw = j * s.stride_w - s.pad_w + q;
            if (iw < 0 || iw >= s.w) continue;
            const float v = xp[ih * s.w + iw];
            if (where < 0 || v > best) {
              best = v;
              where = ih * s.w + iw;
            }
          }
        }
        const int64_t at = (plane * s.oh + i) * s.ow + j;
        y[at] = best;
        if (workspace) workspace[at] = static_cast<int32_t>(where);
      }
  }
}

// gx[n, c, argmax] += gy[n, c, i, j]
void max_pool2d_backward(const PoolShape& s, const float* gy, const int32_t* workspace, float* gx) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c; ++plane) {
    float* gp = gx + plane * s.h * s.w;
    std::fill_n(gp, s.h * s.w, 0.0f);
    for (int64_t k = plane * s.oh * s.ow; k < (plane + 1) * s.oh * s.ow; ++k)
      if (workspace[k] >= 0) gp[workspace[k]] += gy[k];
  }
}

namespace {

// The divisor of window (i, j): kh·kw with padding counted, else the real elements in it.
inline float avg_divisor(const PoolShape& s, bool count_include_pad, int64_t i, int64_t j) {
  if (count_include_pad) return static_cast<float>(s.kh * s.kw);
  const int64_t h0 = std::max<int64_t>(i * s.stride_h - s.pad_h, 0);
  const int64_t h1 = std::min(i * s.stride_h - s.pad_h + s.kh, s.h);
  const int64_t w0 = std::max<int64_t>(j * s.stride_w - s.pad_w, 0);
  const int64_t w1 = std::min(j * s.stride_w - s.pad_w + s.kw, s.w);
  return static_cast<float>(std::max<int64_t>((h1 - h0) * (w1 - w0), 1));
}

}  // namespace

// y[n, c, i, j] = Σ window / divisor
void avg_pool2d_forward(const PoolShape& s, bool count_include_pad, const float* x, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c; ++plane) {
    const float* xp = x + plane * s.h * s.w;
    for (int64_t i = 0; i < s.oh; ++i)
      for (int64_t j = 0; j < s.ow; ++j) {
        float acc = 0.0f;
        for (int64_t ih = std::max<int64_t>(i * s.stride_h - s.pad_h, 0);
             ih < std::min(i * s.stride_h - s.pad_h + s.kh, s.h); ++ih)
          for (int64_t iw = std::max<int64_t>(j * s.stride_w - s.pad_w, 0);
               iw < std::min(j * s.stride_w - s.pad_w + s.kw, s.w); ++iw)
            acc += xp[ih * s.w + iw];
        y[(plane * s.oh + i) * s.ow + j] = acc / avg_divisor(s, count_include_pad, i, j);
      }
  }
}

// gx[n, c, ih, iw] = Σ over windows containing (ih, iw) of gy / divisor
void avg_pool2d_backward(const PoolShape& s, bool count_include_pad, const float* gy, float* gx) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < s.n * s.c; ++plane) {
    float* gp = gx + plane * s.h * s.w;
    std::fill_n(gp, s.h * s.w, 0.0f);
    for (int64_t i = 0; i < s.oh; ++i)
      for (int64_t j = 0; j < s.ow; ++j) {
        const float g = gy[(plane * s.oh + i) * s.ow + j] / avg_divisor(s, count_include_pad, i, j);
        for (int64_t ih = std::max<int64_t>(i * s.stride_h - s.pad_h, 0);
             ih < std::min(i * s.stride_h - s.pad_h + s.kh, s.h); ++ih)
          for (int64_t iw = std::max<int64_t>(j * s.stride_w - s.pad_w, 0);
               iw < std::min(j * s.stride_w - s.pad_w + s.kw, s.w); ++iw)
            gp[ih * s.w + iw] += g;
      }
  }
}

}  // namespace bp::kernels::reference

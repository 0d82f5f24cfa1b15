// Reference kernels that walk tensors through strides: broadcasting binary ops, sums over axes
// (the adjoint of broadcasting) and strided copies (permute, broadcast).
#include <cmath>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace bp::kernels::reference {

namespace {

// Calls inner(offset_a, offset_b, offset_out, count) for every run along the last axis, where
// the offsets are those of the run's first element and out is contiguous.
template <typename Inner>
void for_each_row(const Shape& shape, std::span<const int64_t> sa, std::span<const int64_t> sb,
                  Inner inner) {
  const size_t rank = shape.size();
  if (rank == 0) {
    inner(0, 0, 0, 1);
    return;
  }
  const int64_t last = shape[rank - 1];
  if (last == 0) return;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
  std::vector<int64_t> index(rank, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t r = 0; r < rows; ++r) {
    inner(oa, ob, r * last, last);
    // Advance the odometer over all axes but the last.
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (shape[d] - 1);
      ob -= sb[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

template <typename F>
void binary_loop(const Shape& shape, const float* a, std::span<const int64_t> sa, const float* b,
                 std::span<const int64_t> sb, float* out, F f) {
  const int64_t la = shape.empty() ? 0 : sa.back();
  const int64_t lb = shape.empty() ? 0 : sb.back();
  for_each_row(shape, sa, sb, [&](int64_t oa, int64_t ob, int64_t oo, int64_t count) {
    const float* pa = a + oa;
    const float* pb = b + ob;
    float* po = out + oo;
    if (la == 1 && lb == 1) {
      for (int64_t j = 0; j < count; ++j) po[j] = f(pa[j], pb[j]);
    } else {
      for (int64_t j = 0; j < count; ++j) po[j] = f(pa[j * la], pb[j * lb]);
    }
  });
}

}  // namespace

void binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out) {
  switch (op) {
    case Binary::add:
      binary_loop(shape, a, a_strides, b, b_strides, out, [](float x, float y) { return x + y; });
      break;
    case Binary::sub:
      binary_loop(shape, a, a_strides, b, b_strides, out, [](float x, float y) { return x - y; });
      break;
    case Binary::mul:
      binary_loop(shape, a, a_strides, b, b_strides, out, [](float x, float y) { return x * y; });
      break;
    case Binary::div:
      binary_loop(shape, a, a_strides, b, b_strides, out, [](float x, float y) { return x / y; });
      break;
    case Binary::pow:
      binary_loop(shape, a, a_strides, b, b_strides, out,
                  [](float x, float y) { return std::pow(x, y); });
      break;
  }
}

void reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out) {
  std::vector<int64_t> unit = contiguous_strides(shape);
  const int64_t lo = shape.empty() ? 0 : out_strides.back();
  for_each_row(shape, out_strides, unit, [&](int64_t oo, int64_t ox, int64_t, int64_t count) {
    const float* px = x + ox;
    float* po = out + oo;
    if (lo == 0) {
      float s = 0.0f;
      for (int64_t j = 0; j < count; ++j) s += px[j];
      *po += s;
    } else if (lo == 1) {  // e.g. a bias gradient: rows added up, vectorised
      for (int64_t j = 0; j < count; ++j) po[j] += px[j];
    } else {
      for (int64_t j = 0; j < count; ++j) po[j * lo] += px[j];
    }
  });
}

void strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out) {
  const int64_t lx = shape.empty() ? 0 : x_strides.back();
  for_each_row(shape, x_strides, x_strides, [&](int64_t ox, int64_t, int64_t oo, int64_t count) {
    for (int64_t j = 0; j < count; ++j) out[oo + j] = x[ox + j * lx];
  });
}

void softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y) {
  parallel_for(outer, outer * axis * inner > kParallelGrain, [&](int64_t o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* px = x + o * axis * inner + i;
      float* py = y + o * axis * inner + i;
      // Subtracting the maximum keeps exp() from overflowing.
      float m = -INFINITY;
      for (int64_t a = 0; a < axis; ++a) m = std::fmax(m, px[a * inner]);
      double total = 0;
      for (int64_t a = 0; a < axis; ++a) total += std::exp(px[a * inner] - m);
      if (log) {
        float lse = m + static_cast<float>(std::log(total));
        for (int64_t a = 0; a < axis; ++a) py[a * inner] = px[a * inner] - lse;
      } else {
        float inv = static_cast<float>(1.0 / total);
        for (int64_t a = 0; a < axis; ++a) py[a * inner] = std::exp(px[a * inner] - m) * inv;
      }
    }
  });
}

void softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx) {
  parallel_for(outer, outer * axis * inner > kParallelGrain, [&](int64_t o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * axis * inner + i;
      if (log) {
        // d log_softmax: gx = gy - softmax·Σgy
        double total = 0;
        for (int64_t a = 0; a < axis; ++a) total += gy[base + a * inner];
        for (int64_t a = 0; a < axis; ++a)
          gx[base + a * inner] =
              gy[base + a * inner] - std::exp(y[base + a * inner]) * static_cast<float>(total);
      } else {
        // d softmax: gx = y·(gy - Σ y·gy)
        double dot = 0;
        for (int64_t a = 0; a < axis; ++a)
          dot += static_cast<double>(y[base + a * inner]) * gy[base + a * inner];
        for (int64_t a = 0; a < axis; ++a)
          gx[base + a * inner] =
              y[base + a * inner] * (gy[base + a * inner] - static_cast<float>(dot));
      }
    }
  });
}

}  // namespace bp::kernels::reference

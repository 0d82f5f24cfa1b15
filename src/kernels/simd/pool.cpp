// Max pooling in vector code. The forward pass writes the reference's workspace (each output's
// offset of its maximum in its h·w plane), from which the backward pass routes the gradient. Each
// output row is computed across its columns at once: the window's positions are visited in
// the reference's order, and a column keeps a value only if it is the first in its window or
// greater than the best so far, which picks the same maximum as the reference, ties and NaN
// included. The backward pass, for windows that do not overlap (stride >= kernel, as maxpool(k)
// has by default), stores each output's gradient at the maximum the workspace names; overlapping
// windows, where an element may gather several gradients, are left to the reference.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd/vector_clones.hpp"

namespace bp::kernels::simd {

namespace {

// One window position (p, q) of a plane, for output rows [i0, i1) and columns [j0, j1), whose
// inputs x[i·sh + p - ph, j·sw + q - pw] lie in the plane.
struct Visit {
  int64_t i0, i1, j0, j1;
  int64_t row0, col0;  // the input row and column of output (0, 0)
};

// With the column stride S known when compiling (0: s.stride_w), so that the loads of stride 1
// or 2 vectorise as loads and shuffles rather than gathers.
template <int64_t S>
[[gnu::always_inline]] inline void visit_rows(const PoolShape& s, const Visit& v,
                                              const float* __restrict x, float* __restrict best,
                                              int32_t* __restrict where) {
  const int64_t stride = S ? S : s.stride_w;
  for (int64_t i = v.i0; i < v.i1; ++i) {
    const int64_t row = (i * s.stride_h + v.row0) * s.w + v.col0;
    const float* in = x + row;
    float* b = best + i * s.ow;
    int32_t* at = where + i * s.ow;
    for (int64_t j = v.j0; j < v.j1; ++j) {
      const float value = in[j * stride];
      const bool take = at[j] < 0 || value > b[j];
      b[j] = take ? value : b[j];
      at[j] = take ? static_cast<int32_t>(row + j * stride) : at[j];
    }
  }
}

// The outputs k in [0, n) whose input k·stride + first lies in [0, size): [k0, k1).
std::pair<int64_t, int64_t> inside(int64_t n, int64_t stride, int64_t first, int64_t size) {
  const int64_t k0 = first >= 0 ? 0 : (-first + stride - 1) / stride;
  const int64_t k1 = first >= size ? 0 : std::min(n, (size - 1 - first) / stride + 1);
  return {k0, std::max(k0, k1)};
}

// One plane with the column stride S (as visit_rows); `where` gets each output's offset of its
// maximum.
template <int64_t S>
[[gnu::always_inline]] inline void pool_plane(const PoolShape& s, const float* x, float* y,
                                              int32_t* where) {
  // A window wholly in the padding (which the op's checks rule out) keeps -inf, as the reference.
  std::fill(y, y + s.oh * s.ow, -std::numeric_limits<float>::infinity());
  std::fill(where, where + s.oh * s.ow, -1);
  for (int64_t p = 0; p < s.kh; ++p)
    for (int64_t q = 0; q < s.kw; ++q) {
      const auto [i0, i1] = inside(s.oh, s.stride_h, p - s.pad_h, s.h);
      const auto [j0, j1] = inside(s.ow, s.stride_w, q - s.pad_w, s.w);
      if (i0 < i1 && j0 < j1)
        visit_rows<S>(s, {i0, i1, j0, j1, p - s.pad_h, q - s.pad_w}, x, y, where);
    }
}

BP_VECTOR_CLONES void pool_plane(const PoolShape& s, const float* x, float* y, int32_t* where) {
  if (s.stride_w == 1) return pool_plane<1>(s, x, y, where);
  if (s.stride_w == 2) return pool_plane<2>(s, x, y, where);
  pool_plane<0>(s, x, y, where);
}

// ---- backward ----

// One plane whose windows do not overlap: each input element is the maximum of at most one
// window, so each output's gradient is stored at its maximum, with no sum to read back (0 + g, so
// that a gradient of -0 comes out as the reference's +0).
void unpool_plane(int64_t in, int64_t out, const float* __restrict gy,
                  const int32_t* __restrict where, float* __restrict gx) {
  std::fill_n(gx, in, 0.0f);
  for (int64_t k = 0; k < out; ++k)
    if (where[k] >= 0) gx[where[k]] = 0.0f + gy[k];
}

}  // namespace

void max_pool2d_forward(const PoolShape& s, const float* x, float* y, int32_t* workspace) {
  const int64_t in = s.h * s.w, out = s.oh * s.ow;
#pragma omp parallel if (s.n * s.c * in > 32768)
  {
    std::vector<int32_t> scratch(workspace ? 0 : static_cast<size_t>(out));
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < s.n * s.c; ++plane)
      pool_plane(s, x + plane * in, y + plane * out,
                 workspace ? workspace + plane * out : scratch.data());
  }
}

bool max_pool2d_backward(const PoolShape& s, const float* gy, const int32_t* workspace, float* gx) {
  if (s.stride_h < s.kh || s.stride_w < s.kw) return false;  // overlapping windows
  const int64_t in = s.h * s.w, out = s.oh * s.ow;
  parallel_for(s.n * s.c, s.n * s.c * in > kParallelGrain, [&](int64_t plane) {
    unpool_plane(in, out, gy + plane * out, workspace + plane * out, gx + plane * in);
  });
  return true;
}

}  // namespace bp::kernels::simd

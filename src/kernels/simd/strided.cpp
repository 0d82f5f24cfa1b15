// Broadcasting binary ops, sums over axes and strided copies in vector code. Each first merges
// the axes that its operands step through as one (and drops axes of extent 1): a tensor plus one
// of its own shape becomes one run, a bias over (rows, cols) rows runs of cols, a per-channel
// value over NCHW N·C runs of H·W with one value each. The runs are split across the threads by
// output element and computed by loops compiled for the widest vectors the CPU has.
#include <algorithm>
#include <array>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd/vector_clones.hpp"

namespace bp::kernels::simd {

namespace {

// Tensors of more axes than this (after merging) are left to the reference.
constexpr size_t kMaxAxes = 8;
using Axes = std::array<int64_t, kMaxAxes>;

// A walk over a contiguous output of some shape, reading two operands through their strides, with
// the mergeable axes merged (an outer axis whose stride is its inner neighbour's stride times the
// neighbour's extent, for both operands) and the axes of extent 1 dropped. At least one axis.
struct Walk {
  size_t rank = 0;
  Axes extent{}, s0{}, s1{};
  int64_t total = 1;

  // False, for the reference to take, when more than kMaxAxes axes remain.
  bool build(std::span<const int64_t> shape, std::span<const int64_t> a,
             std::span<const int64_t> b) {
    for (size_t d = 0; d < shape.size(); ++d) {
      total *= shape[d];
      if (shape[d] == 1) continue;
      if (rank > 0 && s0[rank - 1] == a[d] * shape[d] && s1[rank - 1] == b[d] * shape[d]) {
        extent[rank - 1] *= shape[d];
        s0[rank - 1] = a[d];
        s1[rank - 1] = b[d];
        continue;
      }
      if (rank == kMaxAxes) return false;
      extent[rank] = shape[d];
      s0[rank] = a[d];
      s1[rank] = b[d];
      ++rank;
    }
    if (rank == 0) extent[rank++] = 1;  // a scalar, or only axes of extent 1
    return true;
  }

  int64_t last() const { return extent[rank - 1]; }
  int64_t last_s0() const { return s0[rank - 1]; }
  int64_t last_s1() const { return s1[rank - 1]; }

  // Calls run(offset0, offset1, out, count) for each stretch of a run along the last axis that
  // lies in the output elements [begin, end): its first element's offsets in the two operands and
  // in the output.
  template <class F>
  void runs(int64_t begin, int64_t end, F run) const {
    if (begin >= end) return;  // also when the walk is empty (and an extent 0)
    const int64_t n = last();
    int64_t row = begin / n, col = begin % n, o0 = 0, o1 = 0;
    Axes index{};
    for (size_t d = rank - 1; d-- > 0; row /= extent[d]) {
      index[d] = row % extent[d];
      o0 += index[d] * s0[d];
      o1 += index[d] * s1[d];
    }
    for (int64_t at = begin; at < end; col = 0) {
      const int64_t count = std::min(n - col, end - at);
      run(o0 + col * last_s0(), o1 + col * last_s1(), at, count);
      at += count;
      for (size_t d = rank - 1; d-- > 0;) {  // the odometer over all axes but the last
        o0 += s0[d];
        o1 += s1[d];
        if (++index[d] < extent[d]) break;
        o0 -= s0[d] * extent[d];
        o1 -= s1[d] * extent[d];
        index[d] = 0;
      }
    }
  }
};

// ---- the vector loops ----

// out[j] = f(a[j·la], b[j·lb]) for j < n, with the strides 0 and 1 as their own loops.
template <class F>
[[gnu::always_inline]] inline void binary_loop(F f, const float* __restrict a, int64_t la,
                                               const float* __restrict b, int64_t lb,
                                               float* __restrict out, int64_t n) {
  if (la == 1 && lb == 1) {
    for (int64_t j = 0; j < n; ++j) out[j] = f(a[j], b[j]);
  } else if (la == 1 && lb == 0) {
    const float y = *b;
    for (int64_t j = 0; j < n; ++j) out[j] = f(a[j], y);
  } else if (la == 0 && lb == 1) {
    const float x = *a;
    for (int64_t j = 0; j < n; ++j) out[j] = f(x, b[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = f(a[j * la], b[j * lb]);
  }
}

// One run of op (pow, which calls libm, is left to the reference: binary() does not get here).
BP_VECTOR_CLONES void binary_run(Binary op, const float* a, int64_t la, const float* b, int64_t lb,
                                 float* out, int64_t n) {
  switch (op) {
    case Binary::add:
      return binary_loop([](float x, float y) { return x + y; }, a, la, b, lb, out, n);
    case Binary::sub:
      return binary_loop([](float x, float y) { return x - y; }, a, la, b, lb, out, n);
    case Binary::mul:
      return binary_loop([](float x, float y) { return x * y; }, a, la, b, lb, out, n);
    case Binary::div:
      return binary_loop([](float x, float y) { return x / y; }, a, la, b, lb, out, n);
    case Binary::pow:
      return;
  }
}

// out[j] = x[j·lx] for j < n.
BP_VECTOR_CLONES void copy_run(const float* __restrict x, int64_t lx, float* __restrict out,
                               int64_t n) {
  if (lx == 1) {
    std::copy_n(x, n, out);
  } else if (lx == 0) {
    std::fill_n(out, n, *x);
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = x[j * lx];
  }
}

// out[j] += x[j] for j < n.
BP_VECTOR_CLONES void add_run(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += x[j];
}

// out[j] += v for j < n.
BP_VECTOR_CLONES void add_value(float v, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += v;
}

// Σ x[j] over j < n in 16 lanes (lane l adds the x[j] with j mod 16 = l, in order), which are
// then added pairwise: the same arithmetic on every instruction set and thread count.
constexpr int kLanes = 16;
BP_VECTOR_CLONES float lane_sum(const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[j + l];
  for (int l = 0; j + l < n; ++l) acc[l] += x[j + l];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

// ---- the kernels, on a walk ----

// Sums of runs are computed in pieces of at most this many values, in parallel, and the pieces of
// a run added in order on one thread.
constexpr int64_t kPiece = 2048;

// A scratch buffer per thread, grown when needed and reused: no allocation in a steady state.
float* scratch(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < static_cast<size_t>(floats)) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

// out[o0] += Σ of each run of x (at o1) over a walk whose last axis is summed (out stride 0). The
// runs are cut into pieces of kPiece values, whose sums the threads share; then one thread adds
// each run's pieces in order, and the run's sum into out, as the reference adds its runs.
void sum_runs(const Walk& w, const float* x, float* out) {
  const int64_t n = w.last(), per_run = (n + kPiece - 1) / kPiece, pieces = w.total / n * per_run;
  float* sums = scratch(pieces);
  auto start = [&](int64_t p) { return p / per_run * n + p % per_run * kPiece; };
  parallel_ranges(pieces, w.total > kParallelGrain, [&](int64_t p0, int64_t p1) {
    w.runs(start(p0), start(p1), [&](int64_t, int64_t o1, int64_t at, int64_t count) {
      for (int64_t done = 0; done < count; done += kPiece)
        sums[at / n * per_run + (at % n + done) / kPiece] =
            lane_sum(x + o1 + done, std::min(kPiece, count - done));
    });
  });
  const float* piece = sums;
  w.runs(0, w.total, [&](int64_t o0, int64_t, int64_t, int64_t) {
    float s = 0;
    for (int64_t p = 0; p < per_run; ++p) s += *piece++;
    out[o0] += s;
  });
}

// out[o0 + j] += x[o1 + j] over a walk whose last axis is kept (out stride 1): the threads share
// the columns, so that each output adds its values in the reference's order.
void add_rows(const Walk& w, const float* x, float* out) {
  parallel_ranges(w.last(), w.total > kParallelGrain, [&](int64_t c0, int64_t c1) {
    w.runs(0, w.total, [&](int64_t o0, int64_t o1, int64_t, int64_t) {
      add_run(x + o1 + c0, out + o0 + c0, c1 - c0);
    });
  });
}

// reduce_sum on spans (channel_sum calls it with a shape of its own).
bool sum_into(std::span<const int64_t> shape, const float* x, std::span<const int64_t> out_strides,
              float* out) {
  if (shape.size() > kMaxAxes) return false;
  Axes unit{};
  for (size_t d = shape.size(), step = 1; d-- > 0; step *= static_cast<size_t>(shape[d]))
    unit[d] = static_cast<int64_t>(step);
  Walk w;
  if (!w.build(shape, out_strides, std::span(unit).first(shape.size()))) return false;
  if (w.total == 0) return true;
  if (w.last_s0() == 0) {
    sum_runs(w, x, out);
  } else if (w.last_s0() == 1) {
    add_rows(w, x, out);
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out) {
  Walk w;
  if (op == Binary::pow || !w.build(shape, a_strides, b_strides)) return false;
  parallel_ranges(w.total, w.total > kParallelGrain, [&](int64_t begin, int64_t end) {
    w.runs(begin, end, [&](int64_t oa, int64_t ob, int64_t oo, int64_t count) {
      binary_run(op, a + oa, w.last_s0(), b + ob, w.last_s1(), out + oo, count);
    });
  });
  return true;
}

bool reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out) {
  return sum_into(shape, x, out_strides, out);
}

bool strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out) {
  Walk w;
  if (!w.build(shape, x_strides, x_strides)) return false;
  parallel_ranges(w.total, w.total > kParallelGrain, [&](int64_t begin, int64_t end) {
    w.runs(begin, end, [&](int64_t ox, int64_t, int64_t oo, int64_t count) {
      copy_run(x + ox, w.last_s0(), out + oo, count);
    });
  });
  return true;
}

void add_channel_bias(int64_t n, int64_t c, int64_t hw, const float* bias, float* y) {
  parallel_for(n * c, n * c * hw > kParallelGrain,
               [&](int64_t plane) { add_value(bias[plane % c], y + plane * hw, hw); });
}

void channel_sum(int64_t n, int64_t c, int64_t hw, const float* gy, float* gb) {
  std::fill_n(gb, c, 0.0f);
  const std::array<int64_t, 3> shape{n, c, hw}, strides{0, 1, 0};
  sum_into(shape, gy, strides, gb);  // three axes: always taken
}

}  // namespace bp::kernels::simd

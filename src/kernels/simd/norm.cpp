// Batch norm and dropout in vector code. Dropout is the reference's own loop (dropout_range),
// compiled for the widest vectors the CPU has. Batch norm: the reference adds every value into a
// double, which keeps the loops at two lanes; here each stretch of up to kStretch values of a
// channel is summed in float across the widest vectors the CPU has (each lane adds at most
// kStretch/8 values, a relative error below 1e-6), and the stretches' sums are added in double, as
// the reference adds every value. Channels whose values come one at a time (batch norm over (N, C),
// inner = 1) are summed across the channels of a row instead.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/norm.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd/vector_clones.hpp"

namespace bp::kernels::simd {

namespace {

constexpr int64_t kStretch = 256;

// Σ x[j], or Σ (x[j] - mu)² with `centred`, over j < n (n <= kStretch).
BP_VECTOR_CLONES float stretch_sum(const float* x, float mu, bool centred, int64_t n) {
  float s = 0;
  if (centred) {
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) s += (x[j] - mu) * (x[j] - mu);
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) s += x[j];
  }
  return s;
}

// Σ gy[j] and Σ gy[j]·(x[j] - mu) over j < n (n <= kStretch), added to the two doubles.
BP_VECTOR_CLONES void stretch_grad_sums(const float* x, const float* gy, float mu, int64_t n,
                                        double& sum_gy, double& sum_gy_dx) {
  float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t j = 0; j < n; ++j) {
    a += gy[j];
    b += gy[j] * (x[j] - mu);
  }
  sum_gy += a;
  sum_gy_dx += b;
}

// y[j] = x[j]·a + b.
BP_VECTOR_CLONES void affine(const float* __restrict x, float a, float b, float* __restrict y,
                             int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[j] * a + b;
}

// For inner = 1: y = x·a[ch] + b[ch] over (rows, c).
BP_VECTOR_CLONES void affine_rows(int64_t rows, int64_t c, const float* __restrict x,
                                  const float* __restrict a, const float* __restrict b,
                                  float* __restrict y) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t ch = 0; ch < c; ++ch) y[i * c + ch] = x[i * c + ch] * a[ch] + b[ch];
}

// gx[j] = a·gy[j] + b·(x[j] - mu) + d.
BP_VECTOR_CLONES void affine_grad(const float* __restrict x, const float* __restrict gy, float a,
                                  float b, float mu, float d, float* __restrict gx, int64_t n) {
  for (int64_t j = 0; j < n; ++j) gx[j] = a * gy[j] + b * (x[j] - mu) + d;
}

// For inner = 1, over `rows` rows of (rows, c): acc[ch] = Σ x, or Σ (x - mu[ch])² when mu is given.
BP_VECTOR_CLONES void add_rows(int64_t rows, int64_t c, const float* __restrict x,
                               const float* __restrict mu, float* __restrict acc) {
  std::fill(acc, acc + c, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * c;
    if (mu)
      for (int64_t ch = 0; ch < c; ++ch) acc[ch] += (row[ch] - mu[ch]) * (row[ch] - mu[ch]);
    else
      for (int64_t ch = 0; ch < c; ++ch) acc[ch] += row[ch];
  }
}

// For inner = 1: acc_gy[ch] = Σ gy and acc_dx[ch] = Σ gy·(x - mu[ch]) over `rows` rows.
BP_VECTOR_CLONES void add_grad_rows(int64_t rows, int64_t c, const float* __restrict x,
                                    const float* __restrict gy, const float* __restrict mu,
                                    float* __restrict acc_gy, float* __restrict acc_dx) {
  std::fill(acc_gy, acc_gy + c, 0.0f);
  std::fill(acc_dx, acc_dx + c, 0.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      acc_gy[ch] += gy[i * c + ch];
      acc_dx[ch] += gy[i * c + ch] * (x[i * c + ch] - mu[ch]);
    }
}

// For inner = 1: gx = a[ch]·gy + b[ch]·(x - mu[ch]) + d[ch] over (rows, c).
BP_VECTOR_CLONES void affine_grad_rows(int64_t rows, int64_t c, const float* __restrict x,
                                       const float* __restrict gy, const float* __restrict a,
                                       const float* __restrict b, const float* __restrict mu,
                                       const float* __restrict d, float* __restrict gx) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      gx[i * c + ch] = a[ch] * gy[i * c + ch] + b[ch] * (x[i * c + ch] - mu[ch]) + d[ch];
}

BP_VECTOR_CLONES void dropout_loop(float p, uint64_t key, int64_t first, const float* x, float* y,
                                   float* mask, int64_t begin, int64_t end) {
  dropout_range(p, key, first, x, y, mask, begin, end);
}

// Calls f(base, length) for each stretch of channel ch's values, run by run.
template <class F>
void for_stretches(int64_t n, int64_t c, int64_t inner, int64_t ch, F f) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; j += kStretch)
      f((i * c + ch) * inner + j, std::min(kStretch, inner - j));
}

// Per-channel floats, for inner = 1.
std::vector<float> per_channel(int64_t c) {
  return std::vector<float>(static_cast<size_t>(c));
}

// batch_norm_sum for inner = 1.
void row_sums(int64_t n, int64_t c, const float* x, const double* mean, double* sums) {
  std::vector<float> mu = per_channel(c), acc = per_channel(c);
  for (int64_t ch = 0; mean && ch < c; ++ch)
    mu[static_cast<size_t>(ch)] = static_cast<float>(mean[ch]);
  std::fill(sums, sums + c, 0.0);
  for (int64_t i = 0; i < n; i += kStretch) {
    add_rows(std::min(kStretch, n - i), c, x + i * c, mean ? mu.data() : nullptr, acc.data());
    for (int64_t ch = 0; ch < c; ++ch) sums[ch] += acc[static_cast<size_t>(ch)];
  }
}

// batch_norm_grad_sums for inner = 1, before the division by the standard deviation.
void row_grad_sums(int64_t n, int64_t c, const float* x, const float* mean, const float* gy,
                   double* sums) {
  std::vector<float> acc_gy = per_channel(c), acc_dx = per_channel(c);
  std::fill(sums, sums + 2 * c, 0.0);
  for (int64_t i = 0; i < n; i += kStretch) {
    add_grad_rows(std::min(kStretch, n - i), c, x + i * c, gy + i * c, mean, acc_gy.data(),
                  acc_dx.data());
    for (int64_t ch = 0; ch < c; ++ch) {
      sums[ch] += acc_gy[static_cast<size_t>(ch)];
      sums[c + ch] += acc_dx[static_cast<size_t>(ch)];
    }
  }
}

}  // namespace

void batch_norm_sum(int64_t n, int64_t c, int64_t inner, const float* x, const double* mean,
                    double* sums) {
  if (inner == 1) return row_sums(n, c, x, mean, sums);
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const float mu = mean ? static_cast<float>(mean[ch]) : 0.0f;
    double sum = 0;
    for_stretches(n, c, inner, ch, [&](int64_t base, int64_t len) {
      sum += stretch_sum(x + base, mu, mean != nullptr, len);
    });
    sums[ch] = sum;
  });
}

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  // As the reference: y = x·scale + shift per channel.
  std::vector<float> scale = per_channel(c), shift = per_channel(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float rstd = 1.0f / std::sqrt(var[ch] + eps);
    const auto k = static_cast<size_t>(ch);
    scale[k] = rstd * (gamma ? gamma[ch] : 1.0f);
    shift[k] = (beta ? beta[ch] : 0.0f) - mean[ch] * scale[k];
  }
  if (inner == 1) return affine_rows(n, c, x, scale.data(), shift.data(), y);
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const auto k = static_cast<size_t>(ch);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * inner;
      affine(x + base, scale[k], shift[k], y + base, inner);
    }
  });
}

void batch_norm_grad_sums(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                          const float* var, float eps, const float* gy, double* sums) {
  if (inner == 1) {
    row_grad_sums(n, c, x, mean, gy, sums);
  } else {
    parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
      double sum_gy = 0, sum_gy_dx = 0;
      for_stretches(n, c, inner, ch, [&](int64_t base, int64_t len) {
        stretch_grad_sums(x + base, gy + base, mean[ch], len, sum_gy, sum_gy_dx);
      });
      sums[ch] = sum_gy;
      sums[c + ch] = sum_gy_dx;
    });
  }
  for (int64_t ch = 0; ch < c; ++ch) sums[c + ch] /= std::sqrt(static_cast<double>(var[ch]) + eps);
}

void batch_norm_backward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                         const float* var, const float* gamma, float eps, const float* gy,
                         const double* sums, double count, float* gx) {
  // As the reference: dx = a·dy + b·(x - mean) + d per value, with a, b, d per channel.
  std::vector<float> a = per_channel(c), b = per_channel(c), d = per_channel(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[ch]) + eps);
    const double mean_gy = sums ? sums[ch] / count : 0.0;
    const double mean_gy_xhat = sums ? sums[c + ch] / count : 0.0;
    const double scale = (gamma ? gamma[ch] : 1.0) * rstd;
    const auto k = static_cast<size_t>(ch);
    a[k] = static_cast<float>(scale);
    b[k] = static_cast<float>(-scale * rstd * mean_gy_xhat);
    d[k] = static_cast<float>(-scale * mean_gy);
  }
  if (inner == 1) return affine_grad_rows(n, c, x, gy, a.data(), b.data(), mean, d.data(), gx);
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const auto k = static_cast<size_t>(ch);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * inner;
      affine_grad(x + base, gy + base, a[k], b[k], mean[ch], d[k], gx + base, inner);
    }
  });
}

void dropout_forward(float p, uint64_t key, int64_t first, const float* x, float* y, float* mask,
                     int64_t n) {
  parallel_ranges(n, n > kParallelGrain, [&](int64_t begin, int64_t end) {
    dropout_loop(p, key, first, x, y, mask, begin, end);
  });
}

}  // namespace bp::kernels::simd

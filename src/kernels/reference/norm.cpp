// Reference kernels of normalisation, dropout and embeddings: each forward beside its derivative.
// Sums run in double so that the statistics stay exact enough for gradient checks on float data.
#include <cmath>

#include "kernels/norm.hpp"
#include "kernels/parallel.hpp"

namespace bp::kernels::reference {

// ---- batch norm: x viewed as (n, c, inner), one mean and variance per channel ----

namespace {

// Calls f(offset) for each of channel ch's n runs of `inner` contiguous values.
template <class F>
void for_channel_runs(int64_t n, int64_t c, int64_t inner, int64_t ch, F f) {
  for (int64_t i = 0; i < n; ++i) f((i * c + ch) * inner);
}

}  // namespace

void batch_norm_sum(int64_t n, int64_t c, int64_t inner, const float* x, const double* mean,
                    double* sums) {
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    double sum = 0;
    for_channel_runs(n, c, inner, ch, [&](int64_t base) {
      const float* run = x + base;
      if (!mean) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < inner; ++j) sum += run[j];
        return;
      }
      const double mu = mean[ch];
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < inner; ++j) sum += (run[j] - mu) * (run[j] - mu);
    });
    sums[ch] = sum;
  });
}

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const float rstd = 1.0f / std::sqrt(var[ch] + eps);
    const float scale = rstd * (gamma ? gamma[ch] : 1.0f);
    const float shift = (beta ? beta[ch] : 0.0f) - mean[ch] * scale;
    for_channel_runs(n, c, inner, ch, [&](int64_t base) {
      for (int64_t j = 0; j < inner; ++j) y[base + j] = x[base + j] * scale + shift;
    });
  });
}

void batch_norm_grad_sums(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                          const float* var, float eps, const float* gy, double* sums) {
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const double mu = mean[ch];
    double sum_gy = 0, sum_gy_dx = 0;  // Σ gy, Σ gy·(x - mean)
    for_channel_runs(n, c, inner, ch, [&](int64_t base) {
#pragma omp simd reduction(+ : sum_gy, sum_gy_dx)
      for (int64_t j = 0; j < inner; ++j) {
        sum_gy += gy[base + j];
        sum_gy_dx += gy[base + j] * (x[base + j] - mu);
      }
    });
    sums[ch] = sum_gy;
    sums[c + ch] = sum_gy_dx / std::sqrt(static_cast<double>(var[ch]) + eps);
  });
}

void batch_norm_backward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                         const float* var, const float* gamma, float eps, const float* gy,
                         const double* sums, double count, float* gx) {
  parallel_for(c, n * c * inner > kParallelGrain, [&](int64_t ch) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[ch]) + eps);
    // dx = γ·rstd·(dy - Σdy/M - x̂·Σ(dy·x̂)/M) over the M values of the channel in the batch;
    // with fixed statistics the two sums drop out: dx = γ·rstd·dy.
    const double mean_gy = sums ? sums[ch] / count : 0.0;
    const double mean_gy_xhat = sums ? sums[c + ch] / count : 0.0;
    // That is a·dy + b·(x - mean) + d per value, a loop that vectorises in float.
    const double a = (gamma ? gamma[ch] : 1.0) * rstd;
    const auto af = static_cast<float>(a), bf = static_cast<float>(-a * rstd * mean_gy_xhat),
               df = static_cast<float>(-a * mean_gy), mu = mean[ch];
    for_channel_runs(n, c, inner, ch, [&](int64_t base) {
#pragma omp simd
      for (int64_t j = 0; j < inner; ++j)
        gx[base + j] = af * gy[base + j] + bf * (x[base + j] - mu) + df;
    });
  });
}

// ---- layer norm: x viewed as (rows, cols), one mean and variance per row ----

void layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y, float* mean, float* rstd) {
  parallel_for(rows, rows * cols > kParallelGrain, [&](int64_t r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) sum += in[j];
    const double mu = sum / static_cast<double>(cols);
    double sq = 0;
    for (int64_t j = 0; j < cols; ++j) sq += (in[j] - mu) * (in[j] - mu);
    const double rs = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
    for (int64_t j = 0; j < cols; ++j) {
      const double v = (in[j] - mu) * rs;
      out[j] = static_cast<float>(v * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f));
    }
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(rs);
  });
}

void layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* mean,
                         const float* rstd, const float* gamma, const float* gy, float* gx,
                         float* ggamma, float* gbeta) {
  if (ggamma)
    for (int64_t j = 0; j < cols; ++j) ggamma[j] = 0.0f;
  if (gbeta)
    for (int64_t j = 0; j < cols; ++j) gbeta[j] = 0.0f;
  const double d = static_cast<double>(cols);
  // Rows are independent for gx; gamma and beta sum over rows, so they are accumulated serially.
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    const float* g_out = gy + r * cols;
    const double mu = mean[r], rs = rstd[r];
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double xhat = (in[j] - mu) * rs;
      const double g = static_cast<double>(g_out[j]) * (gamma ? gamma[j] : 1.0f);
      sum_g += g;
      sum_g_xhat += g * xhat;
      if (ggamma) ggamma[j] += static_cast<float>(g_out[j] * xhat);
      if (gbeta) gbeta[j] += g_out[j];
    }
    if (!gx) continue;
    for (int64_t j = 0; j < cols; ++j) {
      // dx = rstd/D · (D·g - Σg - x̂·Σ(g·x̂)), g = dy·γ, D values per row
      const double xhat = (in[j] - mu) * rs;
      const double g = static_cast<double>(g_out[j]) * (gamma ? gamma[j] : 1.0f);
      gx[r * cols + j] = static_cast<float>(rs * (g - sum_g / d - xhat * sum_g_xhat / d));
    }
  }
}

// ---- dropout ----

void dropout_forward(float p, uint64_t key, int64_t first, const float* x, float* y, float* mask,
                     int64_t n) {
  parallel_ranges(n, n > kParallelGrain, [&](int64_t begin, int64_t end) {
    dropout_range(p, key, first, x, y, mask, begin, end);
  });
}

// ---- embedding ----

void embedding_forward(int64_t count, int64_t dim, const int64_t* index, const float* weight,
                       float* y) {
  parallel_for(count, count * dim > kParallelGrain, [&](int64_t i) {
    const float* row = weight + index[i] * dim;
    for (int64_t j = 0; j < dim; ++j) y[i * dim + j] = row[j];
  });
}

void embedding_backward(int64_t count, int64_t dim, const int64_t* index, const float* gy,
                        float* gweight) {
  // Serial: repeated indices add into the same row.
  for (int64_t i = 0; i < count; ++i) {
    float* row = gweight + index[i] * dim;
    for (int64_t j = 0; j < dim; ++j) row[j] += gy[i * dim + j];
  }
}

}  // namespace bp::kernels::reference

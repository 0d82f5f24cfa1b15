// Run-time choice of the normalisation kernels with a fast path (see kernels/norm.hpp).
#include "kernels/norm.hpp"

namespace bp::kernels {

void batch_norm_sum(int64_t n, int64_t c, int64_t inner, const float* x, const double* mean,
                    double* sums) {
  if (fast()) return simd::batch_norm_sum(n, c, inner, x, mean, sums);
  reference::batch_norm_sum(n, c, inner, x, mean, sums);
}

void batch_norm_grad_sums(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                          const float* var, float eps, const float* gy, double* sums) {
  if (fast()) return simd::batch_norm_grad_sums(n, c, inner, x, mean, var, eps, gy, sums);
  reference::batch_norm_grad_sums(n, c, inner, x, mean, var, eps, gy, sums);
}

void batch_norm_backward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                         const float* var, const float* gamma, float eps, const float* gy,
                         const double* sums, double count, float* gx) {
  if (fast())
    return simd::batch_norm_backward(n, c, inner, x, mean, var, gamma, eps, gy, sums, count, gx);
  reference::batch_norm_backward(n, c, inner, x, mean, var, gamma, eps, gy, sums, count, gx);
}

void dropout_forward(float p, uint64_t key, int64_t first, const float* x, float* y, float* mask,
                     int64_t n) {
  if (fast()) return simd::dropout_forward(p, key, first, x, y, mask, n);
  reference::dropout_forward(p, key, first, x, y, mask, n);
}

void embedding_forward(int64_t count, int64_t dim, const int64_t* index, const float* weight,
                       float* y) {
  if (fast()) return simd::embedding_forward(count, dim, index, weight, y);
  reference::embedding_forward(count, dim, index, weight, y);
}

void embedding_backward(int64_t count, int64_t dim, const int64_t* index, const float* gy,
                        float* gweight) {
  if (fast()) return simd::embedding_backward(count, dim, index, gy, gweight);
  reference::embedding_backward(count, dim, index, gy, gweight);
}

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  if (fast()) return simd::batch_norm_forward(n, c, inner, x, mean, var, gamma, beta, eps, y);
  reference::batch_norm_forward(n, c, inner, x, mean, var, gamma, beta, eps, y);
}

void layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y, float* mean, float* rstd) {
  if (fast() && onednn::layer_norm_forward(rows, cols, x, gamma, beta, eps, y, mean, rstd)) return;
  reference::layer_norm_forward(rows, cols, x, gamma, beta, eps, y, mean, rstd);
}

void layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* mean,
                         const float* rstd, const float* gamma, const float* gy, float* gx,
                         float* ggamma, float* gbeta) {
  if (fast() &&
      onednn::layer_norm_backward(rows, cols, x, mean, rstd, gamma, gy, gx, ggamma, gbeta))
    return;
  reference::layer_norm_backward(rows, cols, x, mean, rstd, gamma, gy, gx, ggamma, gbeta);
}

}  // namespace bp::kernels

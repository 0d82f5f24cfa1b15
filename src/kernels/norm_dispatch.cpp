// Run-time choice of the normalisation kernels (see kernels/norm.hpp).
#include "kernels/norm.hpp"

#include "backprop/tensor.hpp"

namespace bp::kernels {

namespace {
bool fast() {
  return bp::backend() == Backend::fast;
}
}  // namespace

void batch_norm_stats(int64_t n, int64_t c, int64_t inner, const float* x, float* mean,
                      float* var) {
  reference::batch_norm_stats(n, c, inner, x, mean, var);
}

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  if (fast()) return onednn::batch_norm_forward(n, c, inner, x, mean, var, gamma, beta, eps, y);
  reference::batch_norm_forward(n, c, inner, x, mean, var, gamma, beta, eps, y);
}

void batch_norm_backward(bool training, int64_t n, int64_t c, int64_t inner, const float* x,
                         const float* mean, const float* var, const float* gamma, float eps,
                         const float* gy, float* gx, float* ggamma, float* gbeta) {
  if (fast() && training &&
      onednn::batch_norm_backward(n, c, inner, x, mean, var, gamma, eps, gy, gx, ggamma, gbeta))
    return;
  reference::batch_norm_backward(training, n, c, inner, x, mean, var, gamma, eps, gy, gx, ggamma,
                                 gbeta);
}

void layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y, float* mean, float* rstd) {
  reference::layer_norm_forward(rows, cols, x, gamma, beta, eps, y, mean, rstd);
}

void layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* mean,
                         const float* rstd, const float* gamma, const float* gy, float* gx,
                         float* ggamma, float* gbeta) {
  reference::layer_norm_backward(rows, cols, x, mean, rstd, gamma, gy, gx, ggamma, gbeta);
}

void dropout_mask(float p, Generator& gen, float* mask, int64_t n) {
  reference::dropout_mask(p, gen, mask, n);
}

void embedding_forward(int64_t count, int64_t dim, const int64_t* index, const float* weight,
                       float* y) {
  reference::embedding_forward(count, dim, index, weight, y);
}

void embedding_backward(int64_t count, int64_t dim, const int64_t* index, const float* gy,
                        float* gweight) {
  reference::embedding_backward(count, dim, index, gy, gweight);
}

}  // namespace bp::kernels

// Run-time choice between the fast kernels and the reference kernels.
#include <atomic>

#include "kernels/kernels.hpp"

namespace bp {

namespace {
std::atomic<Backend> current_backend{Backend::fast};
}

void set_backend(Backend backend) { current_backend.store(backend); }
Backend backend() { return current_backend.load(std::memory_order_relaxed); }

namespace kernels {

namespace {
bool fast() { return bp::backend() == Backend::fast; }
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (fast()) {
    // One row (batch-1 inference, the last rows of a tiny batch): a streaming matrix-vector loop.
    if (m == 1 && simd::gemv(trans_a, trans_b, n, k, alpha, a, lda, b, ldb, beta, c)) return;
    return onednn::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  reference::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n) {
  reference::unary_forward(op, alpha, beta, x, y, n);
}

void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n) {
  reference::unary_backward(op, alpha, beta, x, y, gy, gx, n);
}

void binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out) {
  reference::binary(op, shape, a, a_strides, b, b_strides, out);
}

void reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out) {
  reference::reduce_sum(shape, x, out_strides, out);
}

void strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out) {
  reference::strided_copy(shape, x, x_strides, out);
}

void softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y) {
  reference::softmax_forward(log, outer, axis, inner, x, y);
}

void softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx) {
  reference::softmax_backward(log, outer, axis, inner, y, gy, gx);
}

}  // namespace kernels
}  // namespace bp

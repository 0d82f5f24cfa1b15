// The backend and precision settings, and the run-time choice of the core kernels with a fast path.
#include <atomic>

#include "backprop/error.hpp"
#include "kernels/kernels.hpp"

namespace bp {

namespace {
std::atomic<Backend> current_backend{Backend::fast};
std::atomic<Precision> current_precision{Precision::fp32};
}  // namespace

void set_backend(Backend backend) {
  current_backend.store(backend);
}
Backend backend() {
  return current_backend.load(std::memory_order_relaxed);
}

void set_precision(Precision precision) {
  current_precision.store(precision);
}
Precision precision() {
  return current_precision.load(std::memory_order_relaxed);
}
const char* to_string(Precision precision) {
  return precision == Precision::bf16 ? "bf16" : "fp32";
}
Precision parse_precision(const std::string& text, const std::string& what) {
  for (Precision p : {Precision::fp32, Precision::bf16})
    if (text == to_string(p)) return p;
  fail("{}: '{}' is not a precision (expected fp32 or bf16)", what, text);
}
bool bf16_native() {
  return kernels::onednn::bf16_native();
}
PrecisionGuard::PrecisionGuard(Precision precision) : previous_(bp::precision()) {
  set_precision(precision);
}
PrecisionGuard::~PrecisionGuard() {
  set_precision(previous_);
}

namespace kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          Bf16Sources sources) {
  if (fast()) {
    // One row (batch-1 inference, the last rows of a tiny batch): a streaming matrix-vector loop.
    if (m == 1 && simd::gemv(trans_a, trans_b, n, k, alpha, a, lda, b, ldb, beta, c)) return;
    return onednn::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, sources);
  }
  reference::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, {});
}

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                Bf16Sources sources) {
  if (batch == 1)
    return gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, sources);
  if (fast())
    return onednn::gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                              stride_b, beta, c, ldc, stride_c, sources);
  reference::gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                        beta, c, ldc, stride_c);
}

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                int64_t stride_c) {
  gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c,
             ldc, stride_c, {});
}

void to_bf16(const float* x, uint16_t* y, int64_t n) {
  if (fast()) return onednn::to_bf16(x, y, n);
  reference::to_bf16(x, y, n);
}

void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n) {
  if (fast() && simd::unary_forward(op, alpha, beta, x, y, n)) return;
  reference::unary_forward(op, alpha, beta, x, y, n);
}

void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n) {
  if (fast() && simd::unary_backward(op, alpha, beta, x, y, gy, gx, n)) return;
  reference::unary_backward(op, alpha, beta, x, y, gy, gx, n);
}

void binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out) {
  if (fast() && simd::binary(op, shape, a, a_strides, b, b_strides, out)) return;
  reference::binary(op, shape, a, a_strides, b, b_strides, out);
}

void reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out) {
  if (fast() && simd::reduce_sum(shape, x, out_strides, out)) return;
  reference::reduce_sum(shape, x, out_strides, out);
}

void strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out) {
  if (fast() && simd::strided_copy(shape, x, x_strides, out)) return;
  reference::strided_copy(shape, x, x_strides, out);
}

// oneDNN's log-softmax forward spends about 100 ns per row on the logarithm (its softmax and both
// backward passes do not): below this many classes the reference's row is faster.
constexpr int64_t kFastLogSoftmaxMinAxis = 32;

void softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y) {
  if (fast() && (!log || axis >= kFastLogSoftmaxMinAxis) &&
      onednn::softmax_forward(log, outer, axis, inner, x, y))
    return;
  reference::softmax_forward(log, outer, axis, inner, x, y);
}

void softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx) {
  if (fast() && onednn::softmax_backward(log, outer, axis, inner, y, gy, gx)) return;
  reference::softmax_backward(log, outer, axis, inner, y, gy, gx);
}

}  // namespace kernels
}  // namespace bp

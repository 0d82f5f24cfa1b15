// The kernel interface: the only code that touches raw buffers in bulk. Ops call the functions in
// bp::kernels, which dispatch at run time to the fast backend (oneDNN) where it has the kernel, or
// to bp::kernels::reference, the plain C++ loops that define what every kernel means (and against
// which the fast ones are tested). Internal.
#pragma once

#include <cstdint>
#include <span>

#include "backprop/shape.hpp"
#include "backprop/tensor.hpp"

namespace bp::kernels {

// C = alpha·op(A)·op(B) + beta·C, all row-major; op(A) is m×k, op(B) is k×n, C is m×n.
// lda/ldb/ldc are the row strides of A, B, C as stored. beta = 0 ignores C's old contents.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Elementwise functions y = f(x); `alpha`/`beta` are the parameters some of them take.
enum class Unary {
  neg, exp, log, sqrt, abs,
  pow,         // x^alpha
  clamp,       // to [alpha, beta]
  sigmoid, tanh, relu,
  leaky_relu,  // slope alpha
  elu,         // alpha
  selu, gelu,
  softplus,    // beta alpha, threshold beta
  silu,
};
void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n);
// gx = gy·f'(x); y = f(x) as computed by unary_forward (some derivatives use it).
void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n);

enum class Binary { add, sub, mul, div, pow };
// out (contiguous, `shape`) = a op b, where a and b are read through strides (0 on broadcast axes).
void binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out);

// out[·] += x over a contiguous x of `shape`, with out read and written through `out_strides`
// (0 on the axes being summed away).
void reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out);

// Strided copy: out (contiguous, `shape`) = x read through `x_strides`. Serves permute and
// broadcast.
void strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out);

// Softmax (or log-softmax) along the middle axis of a (outer, axis, inner) view.
void softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y);
// gx from gy and the forward output y.
void softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx);

namespace reference {
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n);
void unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n);
void binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out);
void reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out);
void strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out);
void softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y);
void softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx);
}  // namespace reference

namespace simd {
// True when this CPU runs the kernels below (AVX-512F).
bool gemv_supported();
// kernels::gemm for m = 1 (one row of C: c[0:n]). Returns false, doing nothing, when the CPU lacks
// AVX-512F or n or k is 0 (the caller then uses another kernel).
bool gemv(bool trans_a, bool trans_b, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c);
}  // namespace simd

namespace onednn {
// The same contract as kernels::gemm, through a cached oneDNN matmul primitive per shape.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
}  // namespace onednn

}  // namespace bp::kernels

// The kernel interface: the only code that touches raw buffers in bulk. Ops call the functions in
// bp::kernels. bp::kernels::reference holds the plain C++ loops that define what every kernel
// means; a kernel with a fast path (oneDNN, SIMD) dispatches at run time between it and the
// reference (the dispatch*.cpp files), and the fast one is tested against the reference. A kernel
// without one is the reference itself, named into bp::kernels by a using-declaration.
//
// Each kernel's signature is written once, as a function type (GemmKernel, ...), and each family
// lists its kernels once (BP_CORE_KERNELS; conv.hpp and norm.hpp have theirs). Internal.
#pragma once

#include <cstdint>
#include <span>

#include "backprop/activation.hpp"
#include "backprop/shape.hpp"
#include "backprop/tensor.hpp"

namespace bp::kernels {

// True when the fast backend is on (bp::set_backend): the dispatchers' one test.
inline bool fast() {
  return bp::backend() == Backend::fast;
}
// True when matrix products and convolutions may compute in bf16 (bp::set_precision); the fast
// kernels that honour it consult it, the reference ones ignore it.
inline bool bf16() {
  return bp::precision() == Precision::bf16;
}

// C = alpha·op(A)·op(B) + beta·C, all row-major; op(A) is m×k, op(B) is k×n, C is m×n.
// lda/ldb/ldc are the row strides of A, B, C as stored. beta = 0 ignores C's old contents.
using GemmKernel = void(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);

// gemm over a batch of matrices: C_i = alpha·op(A_i)·op(B_i) + beta·C_i for i < batch, where X_i
// starts at x + i·stride_x. A stride of 0 uses one A (or B) for every i; C's must not overlap.
using GemmBatchKernel = void(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n,
                             int64_t k, float alpha, const float* a, int64_t lda, int64_t stride_a,
                             const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                             int64_t ldc, int64_t stride_c);

// Where a product under bf16() takes an operand's bf16 copy from instead of converting the operand
// itself: bf16() returns the operand's elements, in the layout its fp32 pointer has, rounded to
// bf16 (to_bf16), valid until the product returns. A product calls it only when it computes in
// bf16. ops::Bf16Operand keeps the copy with the tensor's storage (core's bf16_copy()).
class Bf16Source {
 public:
  virtual const uint16_t* bf16() = 0;

 protected:
  ~Bf16Source() = default;
};
// The sources of a product's A and B; null: the product converts that operand itself.
struct Bf16Sources {
  Bf16Source* a = nullptr;
  Bf16Source* b = nullptr;
};

// y = x rounded to bfloat16 (the high 16 bits of the fp32 value, rounded to nearest even; NaN
// stays NaN), as bf16 products read their operands. The fast one may flush a denormal x to zero,
// as the CPU's bf16 conversion does.
using ToBf16Kernel = void(const float* x, uint16_t* y, int64_t n);

// Elementwise functions y = f(x): the math functions, then every activation (activation.hpp).
// `alpha` is pow's exponent, clamp's lower bound or an activation's parameter; `beta` is clamp's
// upper bound. Each is a unit (kernels/reference/eltwise.cpp).
#define BP_MATH_FUNCTIONS(X) X(neg) X(exp) X(log) X(sqrt) X(abs) X(pow) X(clamp)
enum class Unary {
#define BP_UNARY(name, ...) name,
  BP_MATH_FUNCTIONS(BP_UNARY) BP_ACTIVATIONS(BP_UNARY, BP_UNARY)
#undef BP_UNARY
};
using UnaryForwardKernel = void(Unary op, float alpha, float beta, const float* x, float* y,
                                int64_t n);
// gx = gy·f'(x); y = f(x) as computed by unary_forward (some derivatives use it).
using UnaryBackwardKernel = void(Unary op, float alpha, float beta, const float* x, const float* y,
                                 const float* gy, float* gx, int64_t n);

enum class Binary { add, sub, mul, div, pow };
// out (contiguous, `shape`) = a op b, where a and b are read through strides (0 on broadcast axes).
using BinaryKernel = void(Binary op, const Shape& shape, const float* a,
                          std::span<const int64_t> a_strides, const float* b,
                          std::span<const int64_t> b_strides, float* out);

// out[·] += x over a contiguous x of `shape`, with out read and written through `out_strides`
// (0 on the axes being summed away).
using ReduceSumKernel = void(const Shape& shape, const float* x,
                             std::span<const int64_t> out_strides, float* out);

// Strided copy: out (contiguous, `shape`) = x read through `x_strides`. Serves permute and
// broadcast.
using StridedCopyKernel = void(const Shape& shape, const float* x,
                               std::span<const int64_t> x_strides, float* out);

// Softmax (or log-softmax) along the middle axis of a (outer, axis, inner) view.
using SoftmaxForwardKernel = void(bool log, int64_t outer, int64_t axis, int64_t inner,
                                  const float* x, float* y);
// gx from gy and the forward output y.
using SoftmaxBackwardKernel = void(bool log, int64_t outer, int64_t axis, int64_t inner,
                                   const float* y, const float* gy, float* gx);

// Each family lists its kernels once, FAST(name, Type) for one with a fast path and REF(name, Type)
// for one without, and BP_DECLARE_KERNELS declares them all in reference:: and, for bp::kernels,
// a dispatcher (dispatch*.cpp) for each FAST one and a using-declaration for each REF one.
#define BP_KERNEL_DECLARATION(name, ...) __VA_ARGS__ name;
#define BP_KERNEL_REFERENCE(name, ...) using reference::name;
#define BP_DECLARE_KERNELS(LIST)                     \
  namespace reference {                              \
  LIST(BP_KERNEL_DECLARATION, BP_KERNEL_DECLARATION) \
  }                                                  \
  LIST(BP_KERNEL_DECLARATION, BP_KERNEL_REFERENCE)

// clang-format off
#define BP_CORE_KERNELS(FAST, REF)             \
  FAST(gemm, GemmKernel)                       \
  FAST(gemm_batch, GemmBatchKernel)            \
  FAST(to_bf16, ToBf16Kernel)                  \
  FAST(unary_forward, UnaryForwardKernel)      \
  FAST(unary_backward, UnaryBackwardKernel)    \
  FAST(binary, BinaryKernel)                   \
  FAST(reduce_sum, ReduceSumKernel)            \
  FAST(strided_copy, StridedCopyKernel)        \
  FAST(softmax_forward, SoftmaxForwardKernel)  \
  FAST(softmax_backward, SoftmaxBackwardKernel)
// clang-format on
BP_DECLARE_KERNELS(BP_CORE_KERNELS)

// gemm and gemm_batch with the bf16 copies of A and B where their callers keep them (the kernels
// above take none).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          Bf16Sources sources);
void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                Bf16Sources sources);

namespace simd {
// True when this CPU runs the kernels below (AVX-512F).
bool gemv_supported();
// kernels::gemm for m = 1 (one row of C: c[0:n]). Returns false, doing nothing, when the CPU lacks
// AVX-512F or n or k is 0 (the caller then uses another kernel).
bool gemv(bool trans_a, bool trans_b, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c);
// Every activation and e^x in vector code (kernels/simd/eltwise.cpp) for the widest vectors the
// CPU has, within 1e-6 + 1e-5·|reference| of the reference; return false, doing nothing, for the
// other math functions (whose reference loops vectorise as they are, or which have no fast unit).
bool unary_forward(Unary op, float alpha, float beta, const float* x, float* y, int64_t n);
bool unary_backward(Unary op, float alpha, float beta, const float* x, const float* y,
                    const float* gy, float* gx, int64_t n);
// The strided kernels (kernels/simd/strided.cpp) over the tensors' axes merged where they can be,
// split across threads by output element; return false, doing nothing, for more than 8 axes left
// after merging, and binary for pow. binary and strided_copy equal the reference exactly, and so
// does reduce_sum where the last axis (of extent > 1) is kept; where it is summed, an output that
// adds n values is within n·2⁻²³·(|out| + Σ|x|) of the reference (each run is added in 16 lanes,
// then those pairwise: the same on every CPU and any number of threads).
bool binary(Binary op, const Shape& shape, const float* a, std::span<const int64_t> a_strides,
            const float* b, std::span<const int64_t> b_strides, float* out);
bool reduce_sum(const Shape& shape, const float* x, std::span<const int64_t> out_strides,
                float* out);
bool strided_copy(const Shape& shape, const float* x, std::span<const int64_t> x_strides,
                  float* out);
}  // namespace simd

namespace onednn {
// Through a cached oneDNN matmul primitive per shape; under bf16() with bf16 operands (the
// sources' copies, or converted from A and B on the call) and fp32 accumulation, or in fp32 where
// oneDNN has no bf16 matmul.
GemmKernel gemm;
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          Bf16Sources sources);
// One matmul primitive for the whole batch (a primitive per shape and strides, as gemm).
GemmBatchKernel gemm_batch;
void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                Bf16Sources sources);
// Through a cached oneDNN reorder per length; the same bits as the reference.
ToBf16Kernel to_bf16;
// True when oneDNN runs bf16 products natively on this CPU (bp::bf16_native).
bool bf16_native();
// Through oneDNN's softmax primitives, to within a few units in the last place of the reference;
// return false, doing nothing, for a softmax over a strided axis (inner > 1) or an empty one.
bool softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y);
bool softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx);
}  // namespace onednn

}  // namespace bp::kernels

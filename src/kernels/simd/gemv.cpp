// Matrix-vector products (a gemm with one row) in AVX-512. oneDNN's matmul spends ~25 µs on the
// 1×784 · 784×256 product of batch-1 inference, far from what the memory system allows; these
// loops stream the matrix once with fused multiply-adds. Used where the CPU has AVX-512F.
// GCC 12's own _mm512_undefined_ps (used inside the intrinsics) trips -Wmaybe-uninitialized;
// clang has no such warning (and would warn about the unknown name).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <vector>

#include "kernels/kernels.hpp"

namespace bp::kernels::simd {

namespace {

#define BP_AVX512 __attribute__((target("avx512f")))

BP_AVX512 inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF)
                         : static_cast<__mmask16>((1u << remaining) - 1u);
}

// c[j] = alpha·dot(x, B[j, 0:k]) + beta·c[j] for j < n: B's rows are contiguous (op(B) = Bᵀ).
BP_AVX512 void dot_rows(int64_t n, int64_t k, float alpha, const float* x, const float* b,
                        int64_t ldb, float beta, float* c) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float* r0 = b + j * ldb;
    const float* r1 = r0 + ldb;
    const float* r2 = r1 + ldb;
    const float* r3 = r2 + ldb;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < k; i += 16) {
      const __mmask16 m = tail_mask(k - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
      s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r0 + i), v, s0);
      s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r1 + i), v, s1);
      s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r2 + i), v, s2);
      s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r3 + i), v, s3);
    }
    const float d[4] = {_mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1),
                        _mm512_reduce_add_ps(s2), _mm512_reduce_add_ps(s3)};
    for (int r = 0; r < 4; ++r)
      c[j + r] = beta == 0.0f ? alpha * d[r] : alpha * d[r] + beta * c[j + r];
  }
  for (; j < n; ++j) {
    const float* row = b + j * ldb;
    __m512 s = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 16) {
      const __mmask16 m = tail_mask(k - i);
      s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, row + i), _mm512_maskz_loadu_ps(m, x + i), s);
    }
    const float d = _mm512_reduce_add_ps(s);
    c[j] = beta == 0.0f ? alpha * d : alpha * d + beta * c[j];
  }
}

// c[0:n] = alpha·Σ_i x[i]·B[i, 0:n] + beta·c: B's rows are the output's (op(B) = B). Works on
// blocks of 64 outputs kept in registers across all k rows.
BP_AVX512 void axpy_rows(int64_t n, int64_t k, float alpha, const float* x, const float* b,
                         int64_t ldb, float beta, float* c) {
  for (int64_t j = 0; j < n; j += 64) {
    __mmask16 m[4];
    for (int q = 0; q < 4; ++q) m[q] = j + 16 * q < n ? tail_mask(n - j - 16 * q) : 0;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float* col = b + j;
    for (int64_t i = 0; i < k; ++i, col += ldb) {
      const __m512 v = _mm512_set1_ps(x[i]);
      s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[0], col), v, s0);
      s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[1], col + 16), v, s1);
      s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[2], col + 32), v, s2);
      s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[3], col + 48), v, s3);
    }
    const __m512 a = _mm512_set1_ps(alpha);
    const __m512 sums[4] = {s0, s1, s2, s3};
    for (int q = 0; q < 4; ++q) {
      if (m[q] == 0) break;
      float* out = c + j + 16 * q;
      __m512 r = _mm512_mul_ps(sums[q], a);
      if (beta != 0.0f)
        r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[q], out), _mm512_set1_ps(beta), r);
      _mm512_mask_storeu_ps(out, m[q], r);
    }
  }
}

}  // namespace

bool gemv_supported() {
  static const bool supported = __builtin_cpu_supports("avx512f");
  return supported;
}

bool gemv(bool trans_a, bool trans_b, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c) {
  if (!gemv_supported() || n == 0 || k == 0) return false;
  const float* x = a;
  thread_local std::vector<float> column;
  if (trans_a && k > 1) {  // op(A)'s single row is A's first column
    column.resize(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) column[static_cast<size_t>(i)] = a[i * lda];
    x = column.data();
  }
  if (trans_b)
    dot_rows(n, k, alpha, x, b, ldb, beta, c);
  else
    axpy_rows(n, k, alpha, x, b, ldb, beta, c);
  return true;
}

}  // namespace bp::kernels::simd

// Reference matrix multiply: packs blocks of op(A) and op(B) into contiguous row-major panels so
// that the inner loop runs over contiguous memory for every transpose combination, then multiplies
// panel by panel. Rows of C are split across threads.
#include <algorithm>
#include <bit>
#include <vector>

#include "kernels/kernels.hpp"

namespace bp::kernels::reference {

namespace {
constexpr int64_t kBlockK = 256;
constexpr int64_t kBlockN = 512;
}  // namespace

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                int64_t stride_c) {
  for (int64_t i = 0; i < batch; ++i)
    gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
         c + i * stride_c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // Scale C by beta first (beta = 0 must not read C, which may hold garbage).
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f)
      std::fill_n(row, n, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
  }
  if (k == 0 || alpha == 0.0f) return;

  for (int64_t n0 = 0; n0 < n; n0 += kBlockN) {
    const int64_t nb = std::min(kBlockN, n - n0);
    for (int64_t k0 = 0; k0 < k; k0 += kBlockK) {
      const int64_t kb = std::min(kBlockK, k - k0);
      // Panel of op(B): kb × nb, row-major.
      std::vector<float> bp(static_cast<size_t>(kb * nb));
      for (int64_t p = 0; p < kb; ++p)
        for (int64_t j = 0; j < nb; ++j)
          bp[static_cast<size_t>(p * nb + j)] =
              trans_b ? b[(n0 + j) * ldb + k0 + p] : b[(k0 + p) * ldb + n0 + j];
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < m; ++i) {
        float* crow = c + i * ldc + n0;
        for (int64_t p = 0; p < kb; ++p) {
          const float aip = alpha * (trans_a ? a[(k0 + p) * lda + i] : a[i * lda + k0 + p]);
          const float* brow = bp.data() + p * nb;
          for (int64_t j = 0; j < nb; ++j) crow[j] += aip * brow[j];
        }
      }
    }
  }
}

void to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto bits = std::bit_cast<uint32_t>(x[i]);
    // A NaN keeps its sign and high bits, made quiet so that dropping the low ones keeps it NaN;
    // any other value rounds to nearest, ties to even (an overflow rounds to infinity).
    const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = nan ? bits | 0x00400000u : bits + 0x7fffu + ((bits >> 16) & 1u);
    y[i] = static_cast<uint16_t>(rounded >> 16);
  }
}

}  // namespace bp::kernels::reference

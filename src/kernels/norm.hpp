// Kernels of normalisation, dropout and embeddings (see include/backprop/norm.hpp for the ops),
// organised as in kernels.hpp. Internal.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace bp::kernels {

// Batch norm views x as (n, c, inner) and normalises per channel c over the n·inner values, or,
// for a part of a batch split across threads, over all the parts' values. Its statistics and the
// sums its gradient needs are per-channel sums (in double) that the parts add up between the
// kernels below; one pass over the whole batch is a single part.
// sums[ch] = Σ x over the channel's values, or Σ (x - mean[ch])² when mean is given.
using BatchNormSumKernel = void(int64_t n, int64_t c, int64_t inner, const float* x,
                                const double* mean, double* sums);
// y = (x - mean[c]) / sqrt(var[c] + eps) · gamma[c] + beta[c]; gamma and beta may be null.
using BatchNormForwardKernel = void(int64_t n, int64_t c, int64_t inner, const float* x,
                                    const float* mean, const float* var, const float* gamma,
                                    const float* beta, float eps, float* y);
// The sums of the gradient (2·c values): sums[ch] = Σ gy, sums[c + ch] = Σ gy·x̂, with
// x̂ = (x - mean[ch]) / sqrt(var[ch] + eps): the gradients of beta and gamma, and (over the whole
// batch) the two terms that the batch statistics contribute to gx.
using BatchNormGradSumsKernel = void(int64_t n, int64_t c, int64_t inner, const float* x,
                                     const float* mean, const float* var, float eps,
                                     const float* gy, double* sums);
// gx of batch_norm_forward. With `sums` (as batch_norm_grad_sums, over the `count` values per
// channel of the whole batch), mean and var are the batch's statistics, which depend on x;
// without (null), they are constants. gamma may be null.
using BatchNormBackwardKernel = void(int64_t n, int64_t c, int64_t inner, const float* x,
                                     const float* mean, const float* var, const float* gamma,
                                     float eps, const float* gy, const double* sums, double count,
                                     float* gx);

// Layer norm views x as (rows, cols) and normalises each row; gamma and beta (cols) may be null.
// Saves each row's mean and 1/sqrt(var + eps) for the backward pass.
using LayerNormForwardKernel = void(int64_t rows, int64_t cols, const float* x, const float* gamma,
                                    const float* beta, float eps, float* y, float* mean,
                                    float* rstd);
// gx, ggamma, gbeta may be null; ggamma and gbeta are overwritten.
using LayerNormBackwardKernel = void(int64_t rows, int64_t cols, const float* x, const float* mean,
                                     const float* rstd, const float* gamma, const float* gy,
                                     float* gx, float* ggamma, float* gbeta);

// Inverted dropout of x[0:n]: element i is dropped when the draw at position first + i of the
// stream `key` (dropout_bits below) is < p, so the mask depends only on the key and each element's
// position in the stream, not on how the work is split. mask[i] = 0 (dropped) or 1/(1 - p); y[i] =
// x[i]·mask[i].
using DropoutForwardKernel = void(float p, uint64_t key, int64_t first, const float* x, float* y,
                                  float* mask, int64_t n);

// y[i, :] = weight[index[i], :] for count indices into a (num, dim) table.
using EmbeddingForwardKernel = void(int64_t count, int64_t dim, const int64_t* index,
                                    const float* weight, float* y);
// gweight[index[i], :] += gy[i, :] (gweight must be zeroed by the caller).
using EmbeddingBackwardKernel = void(int64_t count, int64_t dim, const int64_t* index,
                                     const float* gy, float* gweight);

// clang-format off
#define BP_NORM_KERNELS(FAST, REF)                   \
  FAST(batch_norm_sum, BatchNormSumKernel)           \
  FAST(batch_norm_forward, BatchNormForwardKernel)   \
  FAST(batch_norm_grad_sums, BatchNormGradSumsKernel) \
  FAST(batch_norm_backward, BatchNormBackwardKernel) \
  FAST(layer_norm_forward, LayerNormForwardKernel)   \
  FAST(layer_norm_backward, LayerNormBackwardKernel) \
  FAST(dropout_forward, DropoutForwardKernel)        \
  FAST(embedding_forward, EmbeddingForwardKernel)    \
  FAST(embedding_backward, EmbeddingBackwardKernel)
// clang-format on
BP_DECLARE_KERNELS(BP_NORM_KERNELS)

// 24 random bits at position i of the dropout stream `key` (the draw is bits·2⁻²⁴, in [0, 1)): a
// counter-based hash, two rounds of a 32-bit integer mixer, so that each element's draw is a few
// integer operations independent of every other one, and loops over them vectorise.
inline uint32_t dropout_mix(uint32_t v) {
  v ^= v >> 16;
  v *= 0x7feb352dU;
  v ^= v >> 15;
  v *= 0x846ca68bU;
  v ^= v >> 16;
  return v;
}
inline uint32_t dropout_bits(uint64_t key, uint64_t i) {
  const uint32_t high =
      static_cast<uint32_t>(key >> 32) + static_cast<uint32_t>(i >> 32) * 0x9e3779b9U;
  return dropout_mix(dropout_mix(static_cast<uint32_t>(i) ^ static_cast<uint32_t>(key)) ^ high) >>
         8;
}

// dropout_forward over elements [begin, end). Shared by the reference and the vector kernel,
// which compiles it for the widest vectors the CPU has.
[[gnu::always_inline]] inline void dropout_range(float p, uint64_t key, int64_t first,
                                                 const float* x, float* y, float* mask,
                                                 int64_t begin, int64_t end) {
  const float keep = 1.0f / (1.0f - p);
  // u < p compared on the draws' 24 integer bits: u = bits·2⁻²⁴ < p exactly when bits < ⌈p·2²⁴⌉.
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(p) * 0x1.0p24));
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t bits = dropout_bits(key, static_cast<uint64_t>(first + i));
    mask[i] = bits < threshold ? 0.0f : keep;
    y[i] = x[i] * mask[i];
  }
}

namespace simd {
DropoutForwardKernel dropout_forward;
// Batch norm in vector code (kernels/simd/norm.cpp): sums within a relative 1e-6 of the
// reference's, y and gx within 1e-5 relative to their largest term.
BatchNormSumKernel batch_norm_sum;
BatchNormForwardKernel batch_norm_forward;
BatchNormGradSumsKernel batch_norm_grad_sums;
BatchNormBackwardKernel batch_norm_backward;
// Embeddings split across threads (kernels/simd/embedding.cpp), equal to the reference: the
// backward pass gives each thread its own rows of gweight.
EmbeddingForwardKernel embedding_forward;
EmbeddingBackwardKernel embedding_backward;
}  // namespace simd

namespace onednn {
// Through cached oneDNN layer_normalization primitives; return false (doing nothing) where they
// have no fast path (empty tensors; gx not wanted), leaving the work to the reference.
bool layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y, float* mean, float* rstd);
bool layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* mean,
                         const float* rstd, const float* gamma, const float* gy, float* gx,
                         float* ggamma, float* gbeta);
}  // namespace onednn

}  // namespace bp::kernels

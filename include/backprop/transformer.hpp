// Building blocks of transformers over sequences (batch, seq, dim): positional encodings and the
// pre-norm transformer block, composed of the layers of nn.hpp, norm.hpp and recurrent.hpp, so
// their gradients are those of the ops they are made of.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/norm.hpp"
#include "backprop/random.hpp"
#include "backprop/recurrent.hpp"
#include "backprop/tensor.hpp"

namespace bp::nn {

enum class PositionKind { learned, sinusoidal };

// The settings of PositionalEncoding: PositionalEncoding({.max_len = 128, .dim = 64}).
struct PositionalOptions {
  int64_t max_len = 0;  // (required)
  int64_t dim = 0;      // (required)
  PositionKind kind = PositionKind::learned;
};

// Adds each step's position vector: y[b, t, :] = x[b, t, :] + P[t, :] for t < seq ≤ max_len.
//   learned:    P is the parameter `weight` (max_len, dim), drawn from N(0, 0.02²);
//   sinusoidal: P[t, 2i] = sin(t·ω_i), P[t, 2i+1] = cos(t·ω_i), ω_i = 10000^(-2i/dim); fixed.
// forward() accepts any sequence length up to max_len (a shorter prompt when generating). The
// constructor throws bp::Error naming the field unless both sizes are positive; forward() and
// output_shape() throw unless samples are (seq, dim) with seq ≤ max_len.
class BP_API PositionalEncoding : public Module {
 public:
  explicit PositionalEncoding(const PositionalOptions& options,
                              Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  const PositionalOptions& options() const { return options_; }
  PositionKind kind() const { return options_.kind; }
  int64_t max_len() const { return options_.max_len; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  PositionalOptions options_;
  Tensor table_;  // P: the parameter `weight` (learned), or the fixed sines (not saved)
};

// The settings of TransformerBlock: TransformerBlock({.dim = 64, .heads = 4, .ff = 256}).
struct TransformerOptions {
  int64_t dim = 0;    // (required)
  int64_t heads = 0;  // (required)
  int64_t ff = 0;     // hidden units of the MLP (required)
  float dropout = 0.1f;
  bool causal = true;
};

// The pre-norm transformer block over (batch, seq, dim) (as in GPT-2):
//   h = x + Dropout(SelfAttention(LayerNorm₁(x)))
//   y = h + Dropout(W₂·GELU(W₁·LayerNorm₂(h) + b₁) + b₂)
// with W₁ (ff, dim) and W₂ (dim, ff). The attention is causal (position t sees positions ≤ t)
// unless `causal` is false. Children: ln1, attn, ln2, ff1, ff2, dropout. The constructor throws
// bp::Error naming the field unless the sizes are positive, heads divides dim and
// 0 ≤ dropout < 1; forward() and output_shape() throw unless samples are (seq, dim).
class BP_API TransformerBlock : public Module {
 public:
  explicit TransformerBlock(const TransformerOptions& options,
                            Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;

  const TransformerOptions& options() const { return options_; }
  int64_t dim() const { return options_.dim; }
  int64_t heads() const { return options_.heads; }
  int64_t ff() const { return options_.ff; }
  float dropout() const { return options_.dropout; }
  bool causal() const { return options_.causal; }
  LayerNorm& ln1() { return *ln1_; }
  MultiheadAttention& attention() { return *attn_; }
  LayerNorm& ln2() { return *ln2_; }
  Linear& ff1() { return *ff1_; }
  Linear& ff2() { return *ff2_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  TransformerOptions options_;
  std::shared_ptr<LayerNorm> ln1_, ln2_;
  std::shared_ptr<MultiheadAttention> attn_;
  std::shared_ptr<Linear> ff1_, ff2_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace bp::nn

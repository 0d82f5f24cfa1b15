// Normalisation, dropout and embeddings: the ops (recorded on the autograd graph like those in
// ops.hpp) and the layers built on them.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/random.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// ---- ops ----

// Where the parts of a batch split across threads meet (the trainer makes one per batch), for
// ops whose result depends on the whole batch: batch_norm's statistics are sums over the batch,
// which each part adds up over its rows and then totals over the parts here.
class BP_API BatchSums {
 public:
  virtual ~BatchSums() = default;
  // Every part calls it in the same order with sums of the same size: replaces part `part`'s sums
  // by their totals over all parts, added in part order (the same on every part, whatever the
  // threads' timing). Throws bp::Error, returning at once, when another part has failed.
  virtual void all_reduce(int part, std::span<double> sums) = 0;
};

// Which part of a batch an op computes: the whole batch (sums null), or part `index` of a batch
// split across threads. Part 0 updates what changes once per batch (running statistics).
struct BatchPart {
  BatchSums* sums = nullptr;
  int index = 0;
};

// Batch normalisation of x (N, C, spatial...) per channel C, spatial dims optional.
// Training: y = (x - mean) / sqrt(var + eps) · weight + bias with the mean and biased variance of
// the batch over N and the spatial dims; running_mean/running_var (C), when defined, are updated in
// place (not recorded): running = (1 - momentum)·running + momentum·batch, using the unbiased
// variance. Eval: the running statistics (required) take the place of the batch ones.
// weight and bias (C) may be undefined (no affine transform). With a `part` of a split batch, x
// holds the part's rows, and the statistics (and in backward, the sums the gradient of x takes
// from them) are the whole batch's, through part.sums; its backward must run too.
// Throws bp::Error on rank < 2, mismatched parameter shapes, eps <= 0, momentum outside [0, 1],
// a training batch with one value per channel, or eval without running statistics.
BP_API Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight, const Tensor& bias, bool training,
                         float momentum = 0.1f, float eps = 1e-5f, BatchPart part = {});

// Layer normalisation over the last normalized_shape.size() dims, which must equal
// normalized_shape: y = (x - mean) / sqrt(var + eps) · weight + bias, biased variance per sample.
// weight and bias (normalized_shape) may be undefined. Throws bp::Error on a shape mismatch,
// an empty normalized_shape or eps <= 0.
BP_API Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                         const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                         float eps = 1e-5f);

// Inverted dropout: in training each element is zeroed with probability p and the survivors are
// scaled by 1/(1 - p); in eval (or with p = 0) x is returned as is. The mask comes from a
// counter-based random stream: element i of x (flattened) uses the stream `key` at position
// first_row·(values per row) + i, so rows [r, r + k) of a batch get the same mask whether the
// batch is computed whole (first_row 0) or from row r on (first_row r), and on any number of
// threads. The Generator form draws the key from `gen` (one number per call in training).
// Throws bp::Error unless 0 <= p < 1 and first_row >= 0.
BP_API Tensor dropout(const Tensor& x, float p, bool training, uint64_t key, int64_t first_row = 0);
BP_API Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

// Looks up rows of weight (num, dim): `indices` holds integer class ids stored as floats, of any
// shape; the result has shape indices.shape + (dim). Differentiable in weight only (rows picked
// several times add up their gradients). Throws bp::Error naming the offending value when an index
// is not an integer in [0, num), or when weight is not 2-D.
BP_API Tensor embedding(const Tensor& indices, const Tensor& weight);

namespace nn {

// The settings of BatchNorm1d and BatchNorm2d: BatchNorm2d({.features = 16, .momentum = 0.01f}).
struct BatchNormOptions {
  int64_t features = 0;  // channels C (required)
  float eps = 1e-5f;
  float momentum = 0.1f;
  bool affine = true;  // a learned weight and bias
};

// Batch normalisation over channels: weight (ones) and bias (zeros) are parameters; the running
// mean (zeros) and variance (ones) are buffers, updated in training with `momentum` (PyTorch's
// convention) and used in eval. Splittable: when the trainer splits a batch across threads, the
// parts total their statistics over the whole batch (see bp::batch_norm), so they compute what one
// pass would. Throws bp::Error naming the field if features <= 0, eps <= 0 or momentum is outside
// [0, 1].
class BP_API BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  const BatchNormOptions& options() const { return options_; }
  int64_t num_features() const { return options_.features; }
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  float eps() const { return options_.eps; }
  float momentum() const { return options_.momentum; }

 protected:
  // `spatial` picks the sample shapes accepted: (C) or (C, L) for 1, (C, H, W) for 2.
  BatchNorm(int spatial, const BatchNormOptions& options);
  std::string describe(const char* kind) const;

 private:
  int spatial_;
  BatchNormOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_;
};

// Inputs (N, C) or (N, C, L).
class BP_API BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNorm(1, options) {}
  std::string name() const override { return describe("BatchNorm1d"); }

 protected:
  std::shared_ptr<Module> replicate() const override;
};

// Inputs (N, C, H, W).
class BP_API BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNorm(2, options) {}
  std::string name() const override { return describe("BatchNorm2d"); }

 protected:
  std::shared_ptr<Module> replicate() const override;
};

// The settings of LayerNorm: LayerNorm({.shape = {64}}).
struct LayerNormOptions {
  Shape shape;  // the trailing dims normalised over (required)
  float eps = 1e-5f;
  bool affine = true;  // a learned elementwise weight and bias
};

// Layer normalisation over the trailing dims `shape`, with a learned elementwise weight (ones)
// and bias (zeros) when `affine`. Throws bp::Error naming the field on an empty shape, a
// non-positive extent or eps <= 0.
class BP_API LayerNorm : public Module {
 public:
  explicit LayerNorm(LayerNormOptions options);
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const LayerNormOptions& options() const { return options_; }
  const Shape& shape() const { return options_.shape; }
  float eps() const { return options_.eps; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  LayerNormOptions options_;
  Tensor weight_, bias_;
};

// Inverted dropout with its own generator, which gives each training batch the key
// of its random stream (see bp::dropout); the identity in eval mode. Splittable: when the trainer
// splits a batch across threads, every part uses the batch's key and its rows' places in the
// batch, so the masks are those of one pass. Throws bp::Error unless 0 <= p < 1.
class BP_API Dropout : public Module {
 public:
  // The generator's seed is drawn from `gen`, so that bp::manual_seed makes a model reproducible
  // and two dropout layers draw different masks.
  explicit Dropout(float p = 0.5f, Generator& gen = default_generator());
  // With its generator seeded by `seed` itself.
  Dropout(float p, uint64_t seed);
  Dropout(Dropout&& other) noexcept;
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  float p() const { return p_; }

 protected:
  // The copy draws the same masks from here on: its generator is in this one's state.
  std::shared_ptr<Module> replicate() const override;

 private:
  // The key of batch `batch`: drawn from gen_ by the first part of that batch to ask.
  uint64_t key_of(uint64_t batch);

  float p_;
  Generator gen_;
  std::mutex mutex_;  // guards gen_, batch_, key_ while the parts of a batch ask at once
  uint64_t batch_ = 0, key_ = 0;
};

// A lookup table of `num` vectors of size `dim`, initialised N(0, 1) as in PyTorch; inputs are
// float tensors of class ids, outputs have one more dimension of size dim.
// Throws bp::Error if num or dim is not positive.
class BP_API Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string name() const override;
  bool thread_safe_forward() const override { return true; }
  Shape output_shape(const Shape& input_shape) const override;
  Tensor& weight() { return weight_; }
  int64_t num_embeddings() const { return num_; }
  int64_t embedding_dim() const { return dim_; }

 protected:
  std::shared_ptr<Module> replicate() const override;

 private:
  int64_t num_, dim_;
  Tensor weight_;
};

}  // namespace nn

}  // namespace bp

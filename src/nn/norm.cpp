// Normalisation, dropout and embedding layers (ops in src/ops/norm.cpp).
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/norm.hpp"
#include "nn/batch_shard.hpp"

namespace bp::nn {

// ---- BatchNorm1d / BatchNorm2d ----

BatchNorm::BatchNorm(int spatial, const BatchNormOptions& options)
    : spatial_(spatial), options_(options) {
  const char* kind = spatial == 1 ? "BatchNorm1d" : "BatchNorm2d";
  const auto [features, eps, momentum, affine] = options;
  BP_CHECK(features > 0, "{}: features must be positive, got {}", kind, features);
  BP_CHECK(std::isfinite(eps) && eps > 0, "{}: eps must be positive, got {}", kind, eps);
  BP_CHECK(momentum >= 0 && momentum <= 1, "{}: momentum must be in [0, 1], got {}", kind,
           momentum);
  if (affine) {
    weight_ = register_parameter("weight", Tensor::ones({features}));
    bias_ = register_parameter("bias", Tensor::zeros({features}));
  }
  running_mean_ = register_buffer("running_mean", Tensor::zeros({features}));
  running_var_ = register_buffer("running_var", Tensor::ones({features}));
}

std::string BatchNorm::describe(const char* kind) const {
  return fmt::format("{}({}{})", kind, options_.features, options_.affine ? "" : ", affine=false");
}

std::shared_ptr<Module> BatchNorm1d::replicate() const {
  return std::make_shared<BatchNorm1d>(options());
}

std::shared_ptr<Module> BatchNorm2d::replicate() const {
  return std::make_shared<BatchNorm2d>(options());
}

Shape BatchNorm::output_shape(const Shape& input_shape) const {
  const bool rank_ok =
      spatial_ == 1 ? input_shape.size() == 1 || input_shape.size() == 2 : input_shape.size() == 3;
  const int64_t c = options_.features;
  BP_CHECK_AS(ShapeError, rank_ok && input_shape[0] == c, "{}: expects samples of shape {}, got {}",
              name(),
              spatial_ == 1 ? fmt::format("({}) or ({}, L)", c, c) : fmt::format("({}, H, W)", c),
              to_string(input_shape));
  return input_shape;
}

Tensor BatchNorm::forward(const Tensor& input) {
  BP_CHECK_AS(ShapeError, input.defined() && input.dim() >= 1,
              "{}: the input is undefined or a scalar", name());
  output_shape(Shape(input.shape().begin() + 1, input.shape().end()));
  const detail::BatchShard* shard = detail::current_shard();
  return batch_norm(input, running_mean_, running_var_, weight_, bias_, is_training(),
                    options_.momentum, options_.eps, shard ? shard->part : BatchPart{});
}

// ---- LayerNorm ----

LayerNorm::LayerNorm(LayerNormOptions options) : options_(std::move(options)) {
  const Shape& shape = options_.shape;
  BP_CHECK_AS(ShapeError, !shape.empty(), "LayerNorm: shape must not be empty");
  for (int64_t d : shape)
    BP_CHECK_AS(ShapeError, d > 0, "LayerNorm: every extent of shape must be positive, got {}",
                to_string(shape));
  BP_CHECK(std::isfinite(options_.eps) && options_.eps > 0,
           "LayerNorm: eps must be positive, got {}", options_.eps);
  if (options_.affine) {
    weight_ = register_parameter("weight", Tensor::ones(shape));
    bias_ = register_parameter("bias", Tensor::zeros(shape));
  }
}

Tensor LayerNorm::forward(const Tensor& input) {
  return layer_norm(input, shape(), weight_, bias_, eps());
}

std::string LayerNorm::name() const {
  return fmt::format("LayerNorm({}{})", fmt::join(shape(), ", "),
                     options_.affine ? "" : ", affine=false");
}

std::shared_ptr<Module> LayerNorm::replicate() const {
  return std::make_shared<LayerNorm>(options_);
}

Shape LayerNorm::output_shape(const Shape& input_shape) const {
  const Shape& normalised = shape();
  const size_t k = normalised.size();
  BP_CHECK_AS(ShapeError,
              input_shape.size() >= k && Shape(input_shape.end() - static_cast<std::ptrdiff_t>(k),
                                               input_shape.end()) == normalised,
              "{}: expects samples ending in {}, got {}", name(), to_string(normalised),
              to_string(input_shape));
  return input_shape;
}

// ---- Dropout ----

Dropout::Dropout(float p, Generator& gen) : Dropout(p, gen.next_u64()) {}

Dropout::Dropout(float p, uint64_t seed) : p_(p), gen_(seed) {
  BP_CHECK_AS(ValueError, p >= 0 && p < 1, "Dropout: p must be in [0, 1), got {}", p);
}

Dropout::Dropout(Dropout&& other) noexcept
    : Module(std::move(other)),
      p_(other.p_),
      gen_(other.gen_),
      batch_(other.batch_),
      key_(other.key_) {}

std::shared_ptr<Module> Dropout::replicate() const {
  auto copy = std::make_shared<Dropout>(p_, uint64_t{0});
  copy->gen_ = gen_;
  copy->batch_ = batch_;
  copy->key_ = key_;
  return copy;
}

Tensor Dropout::forward(const Tensor& input) {
  if (!is_training() || p_ == 0) return dropout(input, p_, false, 0);
  const detail::BatchShard* shard = detail::current_shard();
  if (!shard) return dropout(input, p_, true, gen_);
  return dropout(input, p_, true, key_of(shard->batch), shard->first_row);
}

uint64_t Dropout::key_of(uint64_t batch) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (batch != batch_) {
    batch_ = batch;
    key_ = gen_.next_u64();
  }
  return key_;
}

std::string Dropout::name() const {
  return fmt::format("Dropout({:g})", p_);
}

// ---- Embedding ----

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen) : num_(num), dim_(dim) {
  BP_CHECK_AS(ValueError, num > 0 && dim > 0,
              "Embedding: sizes must be positive (got num={}, dim={})", num, dim);
  weight_ = register_parameter("weight", Tensor::normal({num, dim}, 0.0f, 1.0f, gen));
}

Tensor Embedding::forward(const Tensor& input) {
  return embedding(input, weight_);
}

std::shared_ptr<Module> Embedding::replicate() const {
  Generator scratch;  // the values are overwritten
  return std::make_shared<Embedding>(num_, dim_, scratch);
}

std::string Embedding::name() const {
  return fmt::format("Embedding({}, {})", num_, dim_);
}

Shape Embedding::output_shape(const Shape& input_shape) const {
  Shape out = input_shape;
  out.push_back(dim_);
  return out;
}

}  // namespace bp::nn

// DataLoader: seeded per-epoch shuffling, batch assembly into reused buffers and optional image
// augmentation (random crop, horizontal flip).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backprop/data.hpp"
#include "backprop/error.hpp"
#include "core/tensor_impl.hpp"

namespace bp::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// True when `t` can be overwritten: it has `shape` and no other handle, view or graph uses it.
bool reusable(const Tensor& t, const Shape& shape) {
  if (!t.defined()) return false;
  const auto& impl = t.impl();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->grad_fn &&
         !impl->requires_grad && impl->shape == shape;
}

// Random horizontal flip and zero-padded random crop of each of the `count` (C, H, W) images at
// `data`, in place. Each sample draws (flip, dy, dx) from `gen` in batch order; the `skip` samples
// of the whole batch before the first one here (other ranks' shards, rows other threads fill)
// draw theirs first, so that every sample gets the same draws as it would in the whole batch.
void augment(float* data, int64_t count, const Shape& sample, int64_t padding, bool flip,
             Generator& gen, int64_t skip) {
  const int64_t c = sample[0], h = sample[1], w = sample[2], plane = h * w;
  thread_local std::vector<float> image;
  image.resize(static_cast<size_t>(c * plane));
  const auto window = static_cast<uint64_t>(2 * padding + 1);
  for (int64_t s = 0; s < skip; ++s) {
    if (flip) gen.below(2);
    if (padding > 0) {
      gen.below(window);
      gen.below(window);
    }
  }
  for (int64_t s = 0; s < count; ++s) {
    float* x = data + s * c * plane;
    const bool mirror = flip && gen.below(2) == 1;
    const int64_t dy = padding > 0 ? static_cast<int64_t>(gen.below(window)) - padding : 0;
    const int64_t dx = padding > 0 ? static_cast<int64_t>(gen.below(window)) - padding : 0;
    if (!mirror && dy == 0 && dx == 0) continue;
    std::memcpy(image.data(), x, image.size() * sizeof(float));
    // out[y][x] = in[y + dy][x + dx] of the (mirrored) image, 0 where that falls in the padding.
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t col = 0; col < w; ++col) {
          const int64_t sy = y + dy, sx = col + dx;
          float v = 0.0f;
          if (sy >= 0 && sy < h && sx >= 0 && sx < w)
            v = image[static_cast<size_t>(ch * plane + sy * w + (mirror ? w - 1 - sx : sx))];
          x[ch * plane + y * w + col] = v;
        }
  }
}

}  // namespace

DataLoader::DataLoader(Dataset dataset, LoaderOptions options)
    : DataLoader(std::make_shared<const DatasetSource>(std::move(dataset)), options) {}

DataLoader::DataLoader(std::shared_ptr<const SampleSource> source, LoaderOptions options)
    : source_(std::move(source)), options_(options) {
  BP_CHECK(source_ != nullptr, "DataLoader: the sample source is null");
  BP_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be > 0, got {}",
           options_.batch_size);
  size_ = source_->size();
  feature_shape_ = source_->feature_shape();
  task_ = source_->task();
  num_classes_ = task_ == Task::classification ? source_->num_classes() : 0;
  target_size_ = task_ == Task::regression ? source_->target_size() : 0;
  BP_CHECK(size_ > 0, "DataLoader: the dataset is empty");
  for (int64_t extent : feature_shape_)
    BP_CHECK(extent >= 0, "DataLoader: the samples' shape {} has a negative extent",
             to_string(feature_shape_));
  sample_numel_ = numel(feature_shape_);
  BP_CHECK(task_ == Task::regression || num_classes_ > 0,
           "DataLoader: a classification source needs num_classes() > 0, got {}", num_classes_);
  BP_CHECK(task_ == Task::classification || target_size_ > 0,
           "DataLoader: a regression source needs target_size() > 0, got {}", target_size_);
  BP_CHECK(options_.random_crop_padding >= 0,
           "DataLoader: random_crop_padding must be >= 0, got {}", options_.random_crop_padding);
  BP_CHECK(
      (options_.random_crop_padding == 0 && !options_.random_flip) || feature_shape_.size() == 3,
      "DataLoader: random crop and flip need image samples (C, H, W), got samples of shape {}",
      to_string(feature_shape_));
  BP_CHECK(options_.shard_count > 0 && options_.shard_index >= 0 &&
               options_.shard_index < options_.shard_count,
           "DataLoader: shard {} of {} does not exist", options_.shard_index, options_.shard_count);
  start_epoch(0);
}

int64_t DataLoader::num_batches() const {
  const int64_t n = size_, b = options_.batch_size;
  return options_.drop_last ? n / b : n / b + (n % b != 0 ? 1 : 0);
}

void DataLoader::start_epoch(int64_t epoch) {
  BP_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch must be >= 0, got {}", epoch);
  const int64_t n = size_;
  order_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  if (options_.shuffle) {
    // A fresh generator per epoch, seeded from (seed, epoch) alone: resuming at epoch e needs no
    // replay of epochs 0..e-1.
    Generator gen(splitmix64(options_.seed) ^ splitmix64(~static_cast<uint64_t>(epoch)));
    for (int64_t i = n - 1; i > 0; --i) {
      auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i + 1)));
      std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
    }
  }
  cursor_ = 0;
  epoch_ = epoch;
  batch_number_ = 0;
}

bool DataLoader::next(Batch& batch) {
  if (!next_without_features(batch)) return false;
  fill_features(batch, 0, batch.size());
  return true;
}

bool DataLoader::next_without_features(Batch& batch) {
  const auto n = static_cast<int64_t>(order_.size());
  const int64_t remaining = n - cursor_;
  if (remaining <= 0 || (options_.drop_last && remaining < options_.batch_size)) return false;
  const int64_t m = std::min(remaining, options_.batch_size);
  const int64_t first = options_.shard_index * m / options_.shard_count;
  const int64_t b = (options_.shard_index + 1) * m / options_.shard_count - first;
  batch.indices.assign(order_.begin() + cursor_ + first, order_.begin() + cursor_ + first + b);
  cursor_ += m;
  Shape shape = feature_shape_;
  shape.insert(shape.begin(), b);
  // A reused buffer gets new rows (fill_features): a new version, so that nothing derived from
  // the old rows (a bf16 copy that a product kept) is read again.
  if (!reusable(batch.features, shape))
    batch.features = Tensor::empty(shape);
  else
    batch.features.bump_version();
  // Seeded from (seed, epoch, batch number) alone, like the shuffle.
  uint64_t key = splitmix64(options_.seed ^ 0x6175676d656e74ULL);
  key = splitmix64(key ^ static_cast<uint64_t>(epoch_));
  augment_seed_ = splitmix64(key ^ static_cast<uint64_t>(batch_number_));
  shard_first_ = first;
  ++batch_number_;
  if (task_ == Task::classification) {
    const int64_t k = source_->labels_per_sample();
    batch.labels_per_sample = k;
    batch.labels.resize(static_cast<size_t>(b * k));
    for (int64_t i = 0; i < b; ++i) {
      const int64_t sample = batch.indices[static_cast<size_t>(i)];
      int64_t* out = batch.labels.data() + i * k;
      source_->labels(sample, out);
      for (int64_t j = 0; j < k; ++j)
        BP_CHECK(out[j] >= 0 && out[j] < num_classes_,
                 "DataLoader: sample {} has label {}, not a class in [0, {})", sample, out[j],
                 num_classes_);
    }
    batch.targets = Tensor();
  } else {
    if (!reusable(batch.targets, {b, target_size_}))
      batch.targets = Tensor::empty({b, target_size_});
    else
      batch.targets.bump_version();
    for (int64_t i = 0; i < b; ++i)
      source_->target(batch.indices[static_cast<size_t>(i)],
                      batch.targets.data() + i * target_size_);
    batch.labels.clear();
  }
  return true;
}

void DataLoader::fill_features(Batch& batch, int64_t begin, int64_t end) const {
  BP_CHECK(0 <= begin && begin <= end && end <= batch.size() && batch.features.defined() &&
               batch.features.size(0) == batch.size(),
           "DataLoader::fill_features: rows [{}, {}) are not within the batch of {}", begin, end,
           batch.size());
  if (begin == end) return;
  const int64_t row = sample_numel_;
  source_->batch_features(
      std::span<const int64_t>(batch.indices)
          .subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin)),
      batch.features.data() + begin * row);
  if (options_.random_crop_padding > 0 || options_.random_flip) {
    Generator gen(augment_seed_);
    augment(batch.features.data() + begin * row, end - begin, feature_shape_,
            options_.random_crop_padding, options_.random_flip, gen, shard_first_ + begin);
  }
}

}  // namespace bp::data

// DataLoader: seeded per-epoch shuffling and batch assembly into reused buffers.
#include <cstring>

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

void gather(const Tensor& src, std::span<const int64_t> rows, Tensor& dst) {
  Shape shape = src.shape();
  const int64_t row = bp::numel(Shape(shape.begin() + 1, shape.end()));
  shape[0] = static_cast<int64_t>(rows.size());
  if (!reusable(dst, shape)) dst = Tensor::empty(shape);
  const float* in = src.data();
  float* out = dst.data();
  if (row == 0) return;
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out + static_cast<int64_t>(i) * row, in + rows[i] * row,
                static_cast<size_t>(row) * sizeof(float));
}

}  // namespace

DataLoader::DataLoader(Dataset dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  BP_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be > 0, got {}",
           options_.batch_size);
  dataset_.validate();
  BP_CHECK(dataset_.size() > 0, "DataLoader: the dataset is empty");
  start_epoch(0);
}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : n / b + (n % b != 0 ? 1 : 0);
}

void DataLoader::start_epoch(int64_t epoch) {
  BP_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch must be >= 0, got {}", epoch);
  const int64_t n = dataset_.size();
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
}

bool DataLoader::next(Batch& batch) {
  const auto n = static_cast<int64_t>(order_.size());
  const int64_t remaining = n - cursor_;
  if (remaining <= 0 || (options_.drop_last && remaining < options_.batch_size)) return false;
  const int64_t b = std::min(remaining, options_.batch_size);
  batch.indices.assign(order_.begin() + cursor_, order_.begin() + cursor_ + b);
  cursor_ += b;
  gather(dataset_.features, batch.indices, batch.features);
  if (dataset_.task == Task::classification) {
    batch.labels.resize(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i)
      batch.labels[static_cast<size_t>(i)] =
          dataset_.labels[static_cast<size_t>(batch.indices[static_cast<size_t>(i)])];
    batch.targets = Tensor();
  } else {
    gather(dataset_.targets, batch.indices, batch.targets);
    batch.labels.clear();
  }
  return true;
}

}  // namespace bp::data

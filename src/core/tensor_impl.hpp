// The state behind a Tensor handle. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backprop/autograd.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// A 64-byte-aligned float buffer. Released through the allocator that made it.
struct Storage {
  float* data = nullptr;
  size_t size = 0;  // elements
  // Bumped by every in-place change of the data (Tensor::version), so that backward can tell that
  // a tensor it saved has changed.
  uint64_t version = 0;
  explicit Storage(size_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // elements
  Shape shape;
  int64_t count = 0;  // numel(shape), cached
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;

  float* data() const { return storage->data + offset; }
};

// Returns the allocator's cached free buffers to the system.
void release_cached_memory();

// Allocates a new tensor of `shape` with uninitialised data.
Tensor make_tensor(const Shape& shape);

}  // namespace bp

// The state behind a Tensor handle. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backprop/autograd.hpp"
#include "backprop/tensor.hpp"

namespace bp {

// A bf16 copy of elements [offset, offset + count) of a storage's data as it was at `version`
// (bf16_copy() makes and keeps them). `data` comes from the caching allocator, once made.
struct Bf16Copy {
  int64_t offset, count;
  uint64_t version;
  uint16_t* data;
  std::once_flag made;  // the one conversion, by whichever thread asks first
  Bf16Copy(int64_t offset, int64_t count, uint64_t version);
  ~Bf16Copy();
  Bf16Copy(const Bf16Copy&) = delete;
  Bf16Copy& operator=(const Bf16Copy&) = delete;
};

// A 64-byte-aligned float buffer. Released through the allocator that made it.
struct Storage {
  float* data = nullptr;
  size_t size = 0;  // elements
  // Bumped by every in-place change of the data (Tensor::version), so that backward can tell that
  // a tensor it saved has changed, and bf16_copy() that its copies are stale.
  uint64_t version = 0;
  // The bf16 copies of parts of the data that bf16 matrix products have read (bf16_copy()): only
  // copies of the current version, at most kMaxBf16Copies; they die with the storage.
  std::mutex bf16_mutex;
  std::vector<std::shared_ptr<Bf16Copy>> bf16_copies;
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

// The bf16 copy of t's elements as they are now (t's version), rounded by `convert`
// (kernels::to_bf16): the one t's storage keeps, or a new one that it keeps from now on, in place
// of any copy of an older version. Threads asking for the same copy at once make it once. A storage
// keeps copies of at most kMaxBf16Copies parts (a batch split across threads reads one part per
// thread), dropping the oldest; a dropped copy stays valid for whoever holds it.
inline constexpr size_t kMaxBf16Copies = 64;
using Bf16Convert = void(const float* x, uint16_t* y, int64_t n);
std::shared_ptr<const Bf16Copy> bf16_copy(const Tensor& t, Bf16Convert* convert);

// Returns the allocator's cached free buffers to the system.
void release_cached_memory();

// Allocates a new tensor of `shape` with uninitialised data.
Tensor make_tensor(const Shape& shape);

}  // namespace bp
